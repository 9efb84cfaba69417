"""Checks template.yaml's EventBridge rule patterns against the real-shaped events of
events/lifecycle/, offline: which fixture reaches which rule is written down in EXPECTED below,
and every fixture must be there (a new one cannot go unchecked, a removed one cannot linger).

Each fixture is unwrapped as account-lifecycle receives it - a bare EventBridge event, an SNS
event (one EventBridge event per record), an SQS event whose bodies are EventBridge events or
SNS notifications of one - into the EventBridge events it carries, in order. A fixture that
carries none (a body or message that is not JSON) is NOT_AN_EVENT in the table; only broken-*
fixtures may be that. The other broken-* fixtures are malformed for the function but are still
EventBridge events, so the rules see them like any other.

The matching is moto's own, in-process: moto 5.2.5 does not implement TestEventPattern (its
backend raises NotImplementedError and its handler answers 200 with no Result, so
events.test_event_pattern() would say nothing), so each rule is created in moto's EventBridge
with the template's pattern (put_rule, which also refuses a pattern EventBridge would refuse)
and an SQS queue as its target, each event is sent with put_events, and the queues show which
rules it reached. moto's matcher supports the operators the patterns use (value lists and
"exists": false). put_events gives the event moto's own id, time, account and region, so a
pattern may only test source, detail-type, detail and resources; a pattern testing anything
else is reported rather than silently matched against moto's values.

Run by tools/lint-templates.sh; prints nothing and exits 0 when every fixture reaches exactly
the rules the table says. Arguments (for the unit tests): [template [events-dir]].
"""

import json
import logging
import os
import sys
import warnings
from pathlib import Path

os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                   "AWS_SECRET_ACCESS_KEY": "testing", "AWS_CONFIG_FILE": "/dev/null",
                   "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})

import boto3  # noqa: E402
from cfnlint.decode import decode  # noqa: E402
from moto import mock_aws  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events" / "lifecycle"
REGION = "us-east-1"

# The rules, by logical id.
LIFECYCLE = "ControlTowerLifecycleRule"
EXITS = "AccountExitRule"
NO_RULE = "no rule"
NOT_AN_EVENT = "not an EventBridge event"

# Fixture -> the rule each EventBridge event in it reaches, in order (one entry per event;
# NO_RULE when it reaches none), or NOT_AN_EVENT. A fixture reaching a rule is not a promise
# that account-lifecycle acts on it: the function reads it and acts, ignores it with a logged
# reason (failed Control Tower actions: nothing to onboard), or dead-letters it (malformed).
EXPECTED = {
    # Account Factory and landing zone outcomes: the Control Tower rule.
    "create-managed-account-succeeded.json": (LIFECYCLE,),
    "update-managed-account-succeeded.json": (LIFECYCLE,),
    "register-organizational-unit.json": (LIFECYCLE,),
    "deregister-organizational-unit.json": (LIFECYCLE,),
    "setup-landing-zone.json": (LIFECYCLE,),
    "update-landing-zone.json": (LIFECYCLE,),
    # Failed Control Tower actions: the pattern does not look at the state, so they reach the
    # queue; account-lifecycle logs that there is nothing to do (the success event is acted on).
    "create-managed-account-failed.json": (LIFECYCLE,),
    "create-managed-account-failed-without-account-id.json": (LIFECYCLE,),
    "update-managed-account-failed.json": (LIFECYCLE,),
    # Another Control Tower lifecycle event the product has no use for: not routed at all.
    "enable-guardrail.json": (NO_RULE,),
    # Accounts leaving, successful calls only: the Organizations rule.
    "close-account.json": (EXITS,),
    "remove-account-from-organization.json": (EXITS,),
    "move-account.json": (EXITS,),
    # A CloseAccount that failed (errorCode AccountAlreadyClosedException): "exists": false on
    # errorCode keeps it out.
    "close-account-failed.json": (NO_RULE,),
    # Another Organizations call, and another service's event.
    "organizations-create-organizational-unit.json": (NO_RULE,),
    "ec2-instance-state-change.json": (NO_RULE,),
    # Wrapped forms: the EventBridge events inside route as they would bare.
    "sns-create-managed-account.json": (LIFECYCLE,),
    "sqs-create-managed-account.json": (LIFECYCLE,),
    "sqs-of-sns-update-managed-account.json": (LIFECYCLE,),
    "sqs-batch-create-ignored-move.json": (LIFECYCLE, NO_RULE, EXITS),
    # Malformed for account-lifecycle (which dead-letters them with the path of the problem),
    # but well-formed EventBridge events whose routing fields are intact: the rules take them.
    "broken-account-id-not-12-digits.json": (LIFECYCLE,),
    "broken-missing-organizational-unit.json": (LIFECYCLE,),
    "broken-missing-service-event-details.json": (LIFECYCLE,),
    "broken-unknown-state.json": (LIFECYCLE,),
    "broken-update-under-create-key.json": (LIFECYCLE,),
    "broken-close-account-id-is-a-number.json": (EXITS,),
    "broken-move-account-missing-destination.json": (EXITS,),
    "broken-sqs-third-record-missing-account-id.json": (LIFECYCLE, NO_RULE, LIFECYCLE),
    # No EventBridge event inside: the SNS message and the SQS body are not JSON.
    "broken-sns-message-not-json.json": NOT_AN_EVENT,
    "broken-sqs-body-not-json.json": NOT_AN_EVENT,
}

# The fields of every EventBridge event, with their JSON types.
EVENT_FIELDS = {"version": str, "id": str, "detail-type": str, "source": str, "account": str,
                "time": str, "region": str, "resources": list, "detail": dict}
# What put_events sets from the fixture; a pattern on anything else cannot be checked here.
CHECKABLE_FIELDS = {"source", "detail-type", "detail", "resources"}


class NotAnEvent(Exception):
    pass


def is_eventbridge_event(value):
    return isinstance(value, dict) and all(
        isinstance(value.get(field), kind) for field, kind in EVENT_FIELDS.items())


def _json(text, where):
    if not isinstance(text, str):
        raise NotAnEvent(f"{where} is not a string")
    try:
        return json.loads(text)
    except ValueError as error:
        raise NotAnEvent(f"{where} is not JSON ({error})") from None


def events_in(document):
    """The EventBridge events a fixture carries, in order; NotAnEvent when it carries none."""
    if is_eventbridge_event(document):
        return [document]
    records = document.get("Records") if isinstance(document, dict) else None
    if not isinstance(records, list) or not records:
        raise NotAnEvent("neither an EventBridge event nor an SQS or SNS event")
    found = []
    for index, record in enumerate(records):
        where = f"Records[{index}]"
        if not isinstance(record, dict):
            raise NotAnEvent(f"{where} is not an object")
        if "body" in record:  # SQS
            inner = _json(record["body"], f"{where}.body")
            if isinstance(inner, dict) and inner.get("Type") == "Notification" and "Message" in inner:
                inner = _json(inner["Message"], f"{where}.body.Message")
        elif isinstance(record.get("Sns"), dict):  # SNS
            inner = _json(record["Sns"].get("Message"), f"{where}.Sns.Message")
        else:
            raise NotAnEvent(f"{where} is neither an SQS nor an SNS record")
        if not is_eventbridge_event(inner):
            raise NotAnEvent(f"{where} does not carry an EventBridge event")
        found.append(inner)
    return found


def rule_patterns(template_path):
    """{logical id: event pattern} of the template's rules that have one; problems as a list."""
    template, matches = decode(str(template_path))
    if matches:
        return {}, [f"{template_path.name}: cannot parse: {matches[0]}"]
    template = json.loads(json.dumps(template))  # cfn-lint's str/dict nodes -> plain
    patterns, problems = {}, []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Events::Rule":
            continue
        pattern = resource.get("Properties", {}).get("EventPattern")
        if pattern is None:
            continue  # a schedule
        text = json.dumps(pattern)
        if '"Ref"' in text or '"Fn::' in text:
            problems.append(f"{logical_id}: the pattern uses an intrinsic function; "
                            "the check needs it literal")
            continue
        unchecked = set(pattern) - CHECKABLE_FIELDS
        if unchecked:
            problems.append(f"{logical_id}: the pattern tests {sorted(unchecked)}, which this "
                            "check cannot set through put_events")
            continue
        patterns[logical_id] = pattern
    return patterns, problems


def table_problems(expected, files, patterns):
    """An unlisted fixture, a listed one that is gone, a rule the table does not know."""
    problems = []
    for name in sorted(set(files) - set(expected)):
        problems.append(f"events/lifecycle/{name}: not in EXPECTED of tools/check_event_patterns.py "
                        "(say which rule each of its events must reach)")
    for name in sorted(set(expected) - set(files)):
        problems.append(f"events/lifecycle/{name}: in EXPECTED but no such fixture")
    named = {rule for row in expected.values() if row != NOT_AN_EVENT for rule in row} - {NO_RULE}
    for rule in sorted(named - set(patterns)):
        problems.append(f"{rule}: named in EXPECTED, but the template has no rule with a pattern by that name")
    for rule in sorted(set(patterns) - named):
        problems.append(f"{rule}: a rule of the template that no fixture in EXPECTED reaches")
    return problems


class Router:
    """moto's EventBridge with one rule per pattern, each delivering to an SQS queue of its own."""

    def __init__(self, patterns):
        self.events = boto3.client("events", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.queues = {}
        for rule, pattern in patterns.items():
            url = self.sqs.create_queue(QueueName=f"check-{rule}")["QueueUrl"]
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
            self.events.put_rule(Name=rule, EventPattern=json.dumps(pattern), State="ENABLED")
            self.events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": arn}])
            self.queues[rule] = url

    def route(self, event):
        """The rules an event reaches."""
        answer = self.events.put_events(Entries=[{
            "Source": event["source"], "DetailType": event["detail-type"],
            "Detail": json.dumps(event["detail"]), "Resources": event["resources"]}])
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"put_events refused the event: {answer['Entries']}")
        event_id = answer["Entries"][0]["EventId"]
        reached = []
        for rule, url in self.queues.items():
            messages = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            for message in messages:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                if json.loads(message["Body"]).get("id") == event_id:
                    reached.append(rule)
        return sorted(reached)


def check(template_path, events_dir, expected):
    """Every problem found, as lines naming the fixture and the rule."""
    patterns, problems = rule_patterns(template_path)
    files = sorted(p.name for p in events_dir.glob("*.json"))
    problems += table_problems(expected, files, patterns)
    if problems:
        return problems
    with mock_aws():
        router = Router(patterns)
        for name in files:
            where = f"events/lifecycle/{name}"
            try:
                found = events_in(json.loads((events_dir / name).read_text()))
            except (NotAnEvent, ValueError) as error:
                if expected[name] != NOT_AN_EVENT:
                    problems.append(f"{where}: carries no EventBridge event ({error}), "
                                    f"but EXPECTED has {expected[name]}")
                continue
            if expected[name] == NOT_AN_EVENT:
                problems.append(f"{where}: EXPECTED says NOT_AN_EVENT, but it carries {len(found)} event(s)")
                continue
            if len(found) != len(expected[name]):
                problems.append(f"{where}: carries {len(found)} event(s), EXPECTED lists {len(expected[name])}")
                continue
            for index, (event, wanted) in enumerate(zip(found, expected[name])):
                label = where if len(found) == 1 else f"{where} (event {index + 1} of {len(found)})"
                reached = router.route(event)
                if wanted == NO_RULE and reached:
                    problems.append(f"{label}: must reach no rule, reaches {', '.join(reached)}")
                elif wanted != NO_RULE and reached != [wanted]:
                    problems.append(f"{label}: must reach {wanted} only, reaches "
                                    f"{', '.join(reached) if reached else 'no rule'}")
    for name, row in expected.items():
        if row == NOT_AN_EVENT and not name.startswith("broken-"):
            problems.append(f"events/lifecycle/{name}: only broken-* fixtures may be NOT_AN_EVENT")
    return problems


def main(argv):
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    template_path = Path(argv[1]) if len(argv) > 1 else TEMPLATE
    events_dir = Path(argv[2]) if len(argv) > 2 else EVENTS
    problems = check(template_path, events_dir, EXPECTED)
    for problem in problems:
        print(f"check_event_patterns: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
