"""Checks template.yaml beyond what cfn-lint and `sam validate --lint` know, offline.

1. Parameters: each is described, labelled, in one console group, constrained with a message a
   person understands; realistic values are accepted and typical mistakes refused.
2. The Lacework API secret key reaches only the Secrets Manager secret: no environment
   variable, custom resource property, output or other resource names it.
3. Environment variables: each function gets exactly the variables its configuration
   (crates/domain/src/config.rs) reads, under the names config.rs gives them, each from the
   parameter it stands for; none looks like a secret.
4. Names come from the prefix as crates/domain/src/naming.rs makes them; the outputs name the
   Log Archive role and the CloudTrail queue the same way.
5. Timeouts: a function fed by a queue times out within a sixth of the queue's visibility
   timeout; setup within the custom resource's ServiceTimeout; a scheduled function within
   its schedule's interval (runs never overlap). The registration queue's redrive gives up
   only after the drain's own limit (crates/domain/src/drain.rs GIVE_UP_AFTER_RECEIVES), so the
   drain, not SQS, dead-letters work, with its reason.
   Every queue an event source mapping feeds to a function has a VisibilityTimeout of at least
   six times that function's Timeout (a message in work is not handed to a second invocation).
6. The functions are built by cargo-lambda from the workspace, for provided.al2023 on arm64;
   every configuration parameter is a property of the setup custom resource, so changing it
   re-runs setup.
7. Encryption and publishers: every SQS queue is encrypted (SqsManagedSseEnabled, or a KMS
   key); every SNS topic is encrypted (KmsMasterKeyId), and a topic with a topic policy (other
   accounts or AWS services publish to it) uses a customer-managed key of this template, not
   alias/aws/sns, whose policy grants kms:GenerateDataKey* and kms:Decrypt to exactly the
   principals the topic policy lets publish, with the same conditions, through SNS only, and
   grants no other principal the key's use. The registration topic's policy lets publish only
   principals of the organization (aws:PrincipalOrgID = the OrganizationId parameter).

Run by tools/lint-templates.sh; prints nothing and exits 0 when every check passes.
"""

import json
import re
import sys
from pathlib import Path

from cfnlint.decode import decode

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
CONFIG_RS = ROOT / "crates" / "domain" / "src" / "config.rs"
DRAIN_RS = ROOT / "crates" / "domain" / "src" / "drain.rs"
NAMING_RS = ROOT / "crates" / "domain" / "src" / "naming.rs"

SECRET_PARAMETER = "LaceworkApiSecretKey"
SECRET_RESOURCE = "LaceworkApiSecret"

# Values each parameter must accept and refuse.
PATTERN_CASES = {
    "ReconcileScheduleExpression": (["rate(1 day)", "rate(6 hours)", "cron(0 3 * * ? *)"],
                                    ["daily", "rate(0 days)", "rate(1 week)", ""]),
    "LaceworkUrl": (["https://acme.lacework.net", "https://acme.fra.lacework.net/",
                     "https://my-company.lacework.net"],
                    ["acme.lacework.net", "http://acme.lacework.net", "https://acme.lacework.net/api/v2",
                     "https://acme", "https://user@acme.lacework.net", ""]),
    "LaceworkAccount": (["acme", "my-company", "ACME1"],
                        ["acme.lacework.net", "https://acme.lacework.net", "-acme", ""]),
    "LaceworkApiKeyId": (["ACME_0123456789ABCDEF0123456789ABCDEF", "ACME_KEY"],
                         ["has space", "quote\"d", "abc", ""]),
    "LaceworkApiSecretKey": (["_0123456789abcdef0123456789abcdef", "abc+/=.-_12345"],
                             ["short", "has space in it", 'quote"inside', "back\\slash12", ""]),
    "LaceworkSubAccount": (["", "prod", "sec-ops_1.eu"], ["prod team", "https://prod.lacework.net"]),
    "OuSubAccountRules": (["", "Security=secops", "Security=secops, Workloads=prod",
                           " Sandbox Accounts = sandbox ,Prod=prod "],
                          ["Security", "Security=", "=secops", "Security=secops,",
                           "Security=sec ops", "a=b=c", ",Security=secops"]),
    "OrganizationId": (["o-a1b2c3d4e5", "o-" + "a" * 32], ["o-short", "O-A1B2C3D4E5", "a1b2c3d4e5", ""]),
    "LogArchiveAccountId": (["012345678901"], ["12345678901", "1234567890123", "abc", ""]),
    "AuditAccountId": (["012345678901"], ["12345678901", ""]),
    "LogArchiveAccountName": (["Log Archive", "log-archive (prod)"], ["", "x" * 51, "caf\u00e9"]),
    "AuditAccountName": (["Audit"], [""]),
    "TrailName": (["aws-controltower-BaselineCloudTrail",
                   "arn:aws:cloudtrail:us-east-1:111122223333:trail/org-trail",
                   "arn:aws-us-gov:cloudtrail:us-gov-west-1:111122223333:trail/t.1"],
                  ["ab", "-trail", "trail name", "arn:aws:s3:::bucket", ""]),
    "TrailKmsKeyArn": (["", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                        "arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-0123456789abcdef"],
                       ["arn:aws:kms:us-east-1:111122223333:alias/trail",
                        "1234abcd-12ab-34cd-56ef-1234567890ab"]),
    "NamePrefix": (["lacework-ct", "a", "A" + "b" * 31], ["", "-x", "x-", "1x", "a_b", "a" * 33]),
    "LaceworkPrincipalArn": (["arn:aws:iam::434813966438:role/lacework-platform",
                              "arn:aws:iam::123456789012:root"],
                             ["434813966438", "arn:aws:iam::434813966438:user/x", ""]),
    "AlarmTopicArn": (["", "arn:aws:sns:us-east-1:111122223333:ops"],
                      ["ops", "arn:aws:sqs:us-east-1:111122223333:ops"]),
}

# Parameter (or resource) each variable is set from.
VARIABLE_SOURCE = {
    "LACEWORK_URL": "LaceworkUrl",
    "LACEWORK_ACCOUNT": "LaceworkAccount",
    "LACEWORK_SUB_ACCOUNT": "LaceworkSubAccount",
    "LACEWORK_OU_RULES": "OuSubAccountRules",
    "LACEWORK_SECRET_ARN": SECRET_RESOURCE,
    "LACEWORK_PRINCIPAL_ARN": "LaceworkPrincipalArn",
    "TOWER_NAME_PREFIX": "NamePrefix",
    "TOWER_CAPABILITY": "Capability",
    "TOWER_MONITOR_EXISTING_ACCOUNTS": "MonitorExistingAccounts",
    "TOWER_TRAIL_NAME": "TrailName",
    "TOWER_KMS_KEY_ARN": "TrailKmsKeyArn",
    "TOWER_LOG_ARCHIVE_ACCOUNT_ID": "LogArchiveAccountId",
    "TOWER_LOG_ARCHIVE_ACCOUNT_NAME": "LogArchiveAccountName",
    "TOWER_AUDIT_ACCOUNT_ID": "AuditAccountId",
    "TOWER_AUDIT_ACCOUNT_NAME": "AuditAccountName",
    "TOWER_REGISTRATION_BUDGET": "RegistrationBudget",
    "TOWER_REGISTRATION_RESERVE": "RegistrationReserve",
}

# What each function's configuration struct in config.rs reads (Installation, LaceworkSettings,
# LandingZoneAccounts, TrailSettings are shared parts), less what Lambda sets (AWS_REGION) and
# what keeps its default in AWS (TOWER_RESPONSE_URL_ALLOW is for the local landing zone only,
# TOWER_REFRESH_WINDOW_SECONDS has a sound default).
INSTALLATION = {"TOWER_NAME_PREFIX", "LACEWORK_PRINCIPAL_ARN"}
LACEWORK = {"LACEWORK_URL", "LACEWORK_ACCOUNT", "LACEWORK_SUB_ACCOUNT", "LACEWORK_OU_RULES",
            "LACEWORK_SECRET_ARN"}
ACCOUNTS = {"TOWER_LOG_ARCHIVE_ACCOUNT_ID", "TOWER_LOG_ARCHIVE_ACCOUNT_NAME",
            "TOWER_AUDIT_ACCOUNT_ID", "TOWER_AUDIT_ACCOUNT_NAME"}
TRAIL = {"TOWER_TRAIL_NAME", "TOWER_KMS_KEY_ARN"}
VARIABLES_READ = {
    "setup": INSTALLATION | LACEWORK | ACCOUNTS | TRAIL | {"TOWER_CAPABILITY", "TOWER_MONITOR_EXISTING_ACCOUNTS"},
    "account-lifecycle": INSTALLATION | LACEWORK | ACCOUNTS | {"TOWER_CAPABILITY"},
    "auth-refresh": {"LACEWORK_URL", "LACEWORK_SECRET_ARN"},
    "sns-custom-resource": INSTALLATION | LACEWORK | {"TOWER_CAPABILITY", "TOWER_REGISTRATION_BUDGET",
                                                     "TOWER_REGISTRATION_RESERVE"},
}
NOT_IN_AWS = {"AWS_REGION", "TOWER_RESPONSE_URL_ALLOW", "TOWER_REFRESH_WINDOW_SECONDS"}

# Name properties that must start with the prefix, by resource type.
NAME_PROPERTIES = {
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::IAM::Role": "RoleName",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::CloudWatch::Alarm": "AlarmName",
}
# Logical id -> the naming.rs field whose name it must have.
NAMED_AS = {
    "AccountQueue": "account_queue",
    "AccountDeadLetterQueue": "account_dead_letter_queue",
    "RegistrationQueue": "registration_queue",
    "RegistrationDeadLetterQueue": "registration_dead_letter_queue",
    "RegistrationTopic": "registration_topic",
    SECRET_RESOURCE: "secret",
}

failures = []


def fail(message):
    failures.append(message)


def load(path=TEMPLATE):
    template, matches = decode(str(path))
    if matches:
        raise SystemExit(f"{path.name}: cannot parse: {matches[0]}")
    return template


def references(value, path="$"):
    """(path, logical id) of every Ref, GetAtt and ${...} in value."""
    found = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref":
                found.append((path, str(inner)))
            elif key == "Fn::GetAtt":
                found.append((path, str(inner[0] if isinstance(inner, list) else inner.split(".")[0])))
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                found += [(path, name.split(".")[0]) for name in re.findall(r"\$\{([^}!]+)\}", text)]
                if not isinstance(inner, str):
                    found += references(inner[1], f"{path}.Fn::Sub[1]")
            else:
                found += references(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += references(inner, f"{path}[{index}]")
    return found


def check_parameters(template):
    parameters = template["Parameters"]
    interface = template["Metadata"]["AWS::CloudFormation::Interface"]
    grouped = [p for group in interface["ParameterGroups"] for p in group["Parameters"]]
    for key, param in parameters.items():
        where = f"$.Parameters.{key}"
        if not param.get("Description"):
            fail(f"{where} has no Description")
        if param.get("Type") == "Number":
            check_number_parameter(where, param)
        elif "AllowedPattern" not in param and "AllowedValues" not in param:
            fail(f"{where} has neither AllowedPattern nor AllowedValues")
        if not param.get("ConstraintDescription"):
            fail(f"{where} has no ConstraintDescription")
        if grouped.count(key) != 1:
            fail(f"{where} is in {grouped.count(key)} console parameter groups, not one")
        if key not in interface["ParameterLabels"]:
            fail(f"{where} has no console label")
        pattern = param.get("AllowedPattern")
        if pattern is None:
            continue
        if "Default" in param and not re.fullmatch(pattern, param["Default"]):
            fail(f"{where}.Default {param['Default']!r} does not match its own pattern")
        cases = PATTERN_CASES.get(key)
        if cases is None:
            fail(f"{where}: no pattern cases in PATTERN_CASES")
            continue
        accepted, refused = cases
        for value in accepted:
            if not re.fullmatch(pattern, value):
                fail(f"{where} refuses the valid value {value!r}")
        for value in refused:
            if re.fullmatch(pattern, value):
                fail(f"{where} accepts the invalid value {value!r}")
    if not parameters.get(SECRET_PARAMETER, {}).get("NoEcho"):
        fail(f"$.Parameters.{SECRET_PARAMETER} holds the secret key and must be NoEcho")


def check_number_parameter(where, param):
    """A Number parameter has bounds, and its default lies within them."""
    if "MinValue" not in param or "MaxValue" not in param:
        fail(f"{where} is a Number without MinValue and MaxValue")
        return
    low, high = float(param["MinValue"]), float(param["MaxValue"])
    if "Default" in param and not low <= float(param["Default"]) <= high:
        fail(f"{where}.Default {param['Default']} is outside {low:g}..{high:g}")


def check_registration_budget(template):
    """RegistrationBudget and RegistrationReserve allow exactly what config.rs accepts for
    TOWER_REGISTRATION_BUDGET and TOWER_REGISTRATION_RESERVE, with the same defaults."""
    text = CONFIG_RS.read_text()
    high = re.search(r"pub const MAX_REGISTRATION_BUDGET: u32 = ([0-9_]+);", text)
    for variable, parameter, default_const in (
        ("TOWER_REGISTRATION_BUDGET", "RegistrationBudget", "DEFAULT_REGISTRATION_BUDGET"),
        ("TOWER_REGISTRATION_RESERVE", "RegistrationReserve", "DEFAULT_REGISTRATION_RESERVE"),
    ):
        low = re.search(variable + r",\s*([0-9]+)\.\.=", text)
        default = re.search(r"pub const " + default_const + r": u32 = ([0-9_]+);", text)
        if not (low and high and default):
            fail(f"config.rs no longer reads {variable} as this check expects")
            continue
        wanted = tuple(int(m.group(1).replace("_", "")) for m in (low, high, default))
        param = template["Parameters"].get(parameter, {})
        have = tuple(int(param.get(k, -1)) for k in ("MinValue", "MaxValue", "Default"))
        if have != wanted:
            fail(f"$.Parameters.{parameter}: MinValue, MaxValue, Default are {have}, but "
                 f"config.rs reads {variable} as {wanted}")


def check_secret_confined(template):
    allowed = f"$.Resources.{SECRET_RESOURCE}.Properties.SecretString"
    for section in ("Resources", "Outputs", "Conditions"):
        for path, name in references(template.get(section, {}), f"$.{section}"):
            if name == SECRET_PARAMETER and not path.startswith(allowed):
                fail(f"{path} uses {SECRET_PARAMETER}: the secret key may only go into the secret")
    secret = template["Resources"][SECRET_RESOURCE]["Properties"]["SecretString"]
    text = secret["Fn::Sub"] if isinstance(secret, dict) else secret
    sample = text.replace("${LaceworkApiKeyId}", "ACME_KEY").replace("${LaceworkApiSecretKey}", "_abc")
    try:
        document = json.loads(sample)
    except json.JSONDecodeError as error:
        fail(f"{allowed} is not JSON once substituted: {error}")
        return
    if document != {"keyId": "ACME_KEY", "secretKey": "_abc"}:
        fail(f"{allowed} must hold exactly keyId and secretKey (setup adds the rest)")


def config_variables():
    text = CONFIG_RS.read_text()
    return set(re.findall(r'pub const ([A-Z_]+): &str = "\1";', text))


def functions(template):
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            yield logical_id, resource


def check_environment(template):
    known = config_variables()
    if not known >= set(VARIABLE_SOURCE) | NOT_IN_AWS:
        fail(f"config.rs no longer defines {sorted((set(VARIABLE_SOURCE) | NOT_IN_AWS) - known)}")
    for logical_id, resource in functions(template):
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        wanted = VARIABLES_READ.get(binary)
        if wanted is None:
            fail(f"{logical_id}: binary {binary!r} has no entry in VARIABLES_READ")
            continue
        for name in sorted(set(variables) - known):
            fail(f"{logical_id}: {name} is not a variable config.rs reads")
        for name in sorted(set(variables) - wanted):
            fail(f"{logical_id}: {name} is not read by {binary}'s configuration")
        for name in sorted(wanted - set(variables)):
            fail(f"{logical_id}: {name} is missing; {binary} reads it")
        for name, value in variables.items():
            source = VARIABLE_SOURCE.get(name)
            if source and value != {"Ref": source}:
                fail(f"{logical_id}: {name} must be !Ref {source}")


def naming_suffixes():
    return dict(re.findall(r"(\w+): name\(\"([a-z-]+)\"\)", NAMING_RS.read_text()))


def check_names(template):
    suffixes = naming_suffixes()
    for logical_id, resource in template["Resources"].items():
        prop = NAME_PROPERTIES.get(resource["Type"])
        if not prop:
            continue
        value = resource["Properties"].get(prop)
        text = value.get("Fn::Sub") if isinstance(value, dict) else None
        if not isinstance(text, str) or not text.startswith("${NamePrefix}-"):
            fail(f"{logical_id}.{prop} must be !Sub '${{NamePrefix}}-...'")
            continue
        field = NAMED_AS.get(logical_id)
        if field and text != f"${{NamePrefix}}-{suffixes.get(field)}":
            fail(f"{logical_id}.{prop} is {text}, but naming.rs names it {{prefix}}-{suffixes.get(field)}")
    outputs = template["Outputs"]
    for output, field in (("LogArchiveRoleArn", "cross_account_role"),):
        value = outputs.get(output, {}).get("Value", {}).get("Fn::Sub", "")
        if not value.endswith(f"${{NamePrefix}}-{suffixes.get(field)}"):
            fail(f"$.Outputs.{output} does not end with naming.rs's {{prefix}}-{suffixes.get(field)}")
    # The queue is Audit's or, for a trail without an SNS topic, Log Archive's: setup answers
    # which (its QueueUrl and TrailNotifications, named by naming.rs and tested in Rust).
    for output, attribute in (("CloudTrailQueueUrl", "QueueUrl"), ("TrailNotifications", "TrailNotifications")):
        value = outputs.get(output, {}).get("Value")
        value = value.get("Fn::GetAtt") if isinstance(value, dict) else value
        if value not in (["LaceworkSetup", attribute], f"LaceworkSetup.{attribute}"):
            fail(f"$.Outputs.{output} must be !GetAtt LaceworkSetup.{attribute} (setup answers it)")
    for output in ("ManagementAccountId", "ExternalIdFormat", "ExternalIdCommand"):
        if output not in outputs:
            fail(f"$.Outputs.{output} is missing (a platform without an API needs it)")


def check_timeouts(template):
    resources = template["Resources"]
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::EventSourceMapping":
            continue
        props = resource["Properties"]
        queue = props["EventSourceArn"]["Fn::GetAtt"][0]
        function = props["FunctionName"]["Ref"]
        # SQS's and Lambda's defaults when the template says nothing.
        visibility = resources[queue]["Properties"].get("VisibilityTimeout", 30)
        timeout = resources[function]["Properties"].get("Timeout", 3)
        if 6 * int(timeout) > int(visibility):
            fail(f"{queue}: VisibilityTimeout {visibility} s is less than six times the timeout of "
                 f"{function} ({timeout} s), which {logical_id} feeds from it")
        if "ReportBatchItemFailures" not in props.get("FunctionResponseTypes", []):
            fail(f"{logical_id}: each message must succeed or fail on its own (ReportBatchItemFailures)")
        queue_props = resources[queue]["Properties"]
        if "RedrivePolicy" not in queue_props:
            fail(f"{queue} has no dead-letter queue")
    setup = resources["LaceworkSetup"]["Properties"]
    timeout = resources["SetupFunction"]["Properties"]["Timeout"]
    if int(setup.get("ServiceTimeout", 3600)) <= int(timeout):
        fail("LaceworkSetup.ServiceTimeout must exceed the setup function's timeout")
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] != "AWS::Events::Rule" or "ScheduleExpression" not in props:
            continue
        expression = props["ScheduleExpression"]
        if isinstance(expression, dict) and "Ref" in expression:
            # A parameter: its default is what a deployment gets unless told otherwise.
            expression = template["Parameters"][expression["Ref"]]["Default"]
        interval = schedule_seconds(expression)
        if interval is None:
            fail(f"{logical_id}: ScheduleExpression {expression!r} is not rate(N unit)")
            continue
        for target in props.get("Targets", []):
            function = target.get("Arn", {}).get("Fn::GetAtt", [None])[0]
            timeout = resources.get(function, {}).get("Properties", {}).get("Timeout")
            if timeout is not None and int(timeout) >= interval:
                fail(f"{logical_id}: {function} may run {timeout} s, as long as the schedule's "
                     f"interval ({interval} s): runs would overlap")
    check_registration_redrive(resources)


def schedule_seconds(expression):
    found = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if not found:
        return None
    unit = {"minute": 60, "hour": 3600, "day": 86400}[found.group(2).rstrip("s")]
    return int(found.group(1)) * unit


def check_registration_redrive(resources):
    """The drain (not SQS) gives up on registration work, with a reason: the queue's
    maxReceiveCount must exceed the drain's GIVE_UP_AFTER_RECEIVES, and nothing but the drain
    consumes the queue (an event source mapping would bypass its budget)."""
    found = re.search(r"pub const GIVE_UP_AFTER_RECEIVES: u32 = (\d+);", DRAIN_RS.read_text())
    if not found:
        fail("drain.rs no longer defines GIVE_UP_AFTER_RECEIVES")
        return
    give_up = int(found.group(1))
    redrive = resources["RegistrationQueue"]["Properties"].get("RedrivePolicy", {})
    if int(redrive.get("maxReceiveCount", 0)) <= give_up:
        fail(f"RegistrationQueue: maxReceiveCount {redrive.get('maxReceiveCount')} must exceed the "
             f"drain's GIVE_UP_AFTER_RECEIVES ({give_up}), or SQS dead-letters work without a reason")
    for logical_id, resource in resources.items():
        if (resource["Type"] == "AWS::Lambda::EventSourceMapping"
                and resource["Properties"]["EventSourceArn"].get("Fn::GetAtt", [None])[0] == "RegistrationQueue"):
            fail(f"{logical_id}: the registration queue is drained on a schedule within a request "
                 "budget; an event source mapping would bypass it")


def check_functions_and_setup(template):
    function_globals = template["Globals"]["Function"]
    if function_globals.get("Runtime") != "provided.al2023" or function_globals.get("Architectures") != ["arm64"]:
        fail("$.Globals.Function: Runtime provided.al2023 on arm64")
    if function_globals.get("CodeUri") != ".":
        fail("$.Globals.Function.CodeUri must be the workspace root '.'")
    for logical_id, resource in functions(template):
        metadata = resource.get("Metadata", {})
        binary = metadata.get("BuildProperties", {}).get("Binary")
        if metadata.get("BuildMethod") != "rust-cargolambda":
            fail(f"{logical_id}: Metadata.BuildMethod must be rust-cargolambda")
        if not binary or not (ROOT / "crates" / binary / "Cargo.toml").exists():
            fail(f"{logical_id}: Metadata.BuildProperties.Binary {binary!r} is no crate of crates/")
    properties = template["Resources"]["LaceworkSetup"]["Properties"]
    for key in template["Parameters"]:
        if key in (SECRET_PARAMETER, "AlarmTopicArn", "OrganizationId", "RegistrationBudget",
                   "RegistrationReserve", "ReconcileScheduleExpression"):
            continue  # the secret never; the others change no setup work
        if properties.get(key) != {"Ref": key}:
            fail(f"LaceworkSetup.{key} must be !Ref {key}, so that changing it re-runs setup")
    if properties.get("SetupVersion") != {"Ref": "SetupFunction.Version"}:
        fail("LaceworkSetup.SetupVersion must be !Ref SetupFunction.Version (new code re-runs setup)")


# What using a key is (as opposed to administering it).
KMS_USE_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt", "kms:GenerateDataKey",
                   "kms:CreateGrant", "kms:*", "*")
PUBLISHER_KEY_ACTIONS = {"kms:GenerateDataKey*", "kms:Decrypt"}
# Condition keys that say who publishes (or on whose behalf); the key statement must repeat them.
PUBLISHER_CONDITION_KEYS = {"aws:PrincipalOrgID", "aws:SourceArn", "aws:SourceAccount",
                            "aws:SourceOrgID", "aws:PrincipalAccount"}


def as_list(value):
    return value if isinstance(value, list) else [value]


def logical_target(value):
    """The logical id a Ref or GetAtt names, else None."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            inner = value["Fn::GetAtt"]
            return inner[0] if isinstance(inner, list) else inner.split(".")[0]
    return None


def publisher_conditions(statement):
    """(operator, key) -> value of the statement's conditions that identify the publisher."""
    found = {}
    for operator, pairs in statement.get("Condition", {}).items():
        for key, value in pairs.items():
            if key in PUBLISHER_CONDITION_KEYS:
                found[(operator, key)] = json.dumps(value, sort_keys=True)
    return found


def uses_key(statement):
    return statement.get("Effect") == "Allow" and any(
        action.startswith(prefix) for action in as_list(statement.get("Action", []))
        for prefix in KMS_USE_ACTIONS)


def check_encryption(template):
    resources = template["Resources"]
    policies = {}  # topic logical id -> its topic policy's statements
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::SNS::TopicPolicy":
            for topic in resource["Properties"].get("Topics", []):
                policies.setdefault(logical_target(topic), []).extend(
                    (logical_id, s) for s in as_list(resource["Properties"]["PolicyDocument"]["Statement"]))
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::SQS::Queue":
            if props.get("SqsManagedSseEnabled") is not True and "KmsMasterKeyId" not in props:
                fail(f"{logical_id}: the queue is not encrypted (SqsManagedSseEnabled: true)")
        if resource["Type"] != "AWS::SNS::Topic":
            continue
        key = props.get("KmsMasterKeyId")
        if key is None:
            fail(f"{logical_id}: the topic is not encrypted (KmsMasterKeyId)")
            continue
        publishers = [(policy, s) for policy, s in policies.get(logical_id, [])
                      if s.get("Effect") == "Allow"
                      and any(a in ("sns:Publish", "sns:*", "*") for a in as_list(s.get("Action", [])))]
        if not publishers:
            continue
        key_id = logical_target(key)
        if resources.get(key_id, {}).get("Type") != "AWS::KMS::Key":
            fail(f"{logical_id}: others publish to it ({publishers[0][0]}), so it needs a "
                 f"customer-managed key of this template, not {json.dumps(key)} "
                 "(alias/aws/sns cannot be used across accounts)")
            continue
        check_key_publishers(logical_id, key_id, resources[key_id], publishers)


def check_key_publishers(topic_id, key_id, key, publishers):
    statements = as_list(key["Properties"]["KeyPolicy"]["Statement"])
    users = [s for s in statements if uses_key(s)]
    for policy, publisher in publishers:
        wanted = (json.dumps(publisher.get("Principal"), sort_keys=True), publisher_conditions(publisher))
        matching = [s for s in users
                    if (json.dumps(s.get("Principal"), sort_keys=True), publisher_conditions(s)) == wanted]
        sid = publisher.get("Sid", "?")
        if not matching:
            fail(f"{key_id}: no key policy statement lets {topic_id}'s publisher {policy}.{sid} "
                 "(same Principal and conditions) use the key, so its messages cannot be published")
            continue
        for statement in matching:
            actions = set(as_list(statement.get("Action", [])))
            if actions != PUBLISHER_KEY_ACTIONS:
                fail(f"{key_id}.{statement.get('Sid', '?')}: a publisher needs exactly "
                     f"{sorted(PUBLISHER_KEY_ACTIONS)}, not {sorted(actions)}")
            via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
            if "AWS" in (publisher.get("Principal") or {}) and via != {"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"}:
                fail(f"{key_id}.{statement.get('Sid', '?')}: publishers may use the key only through "
                     "SNS (StringEquals kms:ViaService sns.${AWS::Region}.amazonaws.com)")
    allowed = [(json.dumps(p.get("Principal"), sort_keys=True), publisher_conditions(p)) for _, p in publishers]
    for statement in users:
        if (json.dumps(statement.get("Principal"), sort_keys=True), publisher_conditions(statement)) not in allowed:
            fail(f"{key_id}.{statement.get('Sid', '?')}: lets a principal use the key that {topic_id}'s "
                 "policy does not let publish (only the publishers may use it)")


def check_registration_publishers(template):
    resources = template["Resources"]
    if "AllowedPattern" not in template["Parameters"].get("OrganizationId", {}):
        fail("$.Parameters.OrganizationId: needed, with an AllowedPattern (the registration "
             "topic's publishers are this organization's principals)")
    statements = [s for r in resources.values() if r["Type"] == "AWS::SNS::TopicPolicy"
                  and any(logical_target(t) == "RegistrationTopic" for t in r["Properties"].get("Topics", []))
                  for s in as_list(r["Properties"]["PolicyDocument"]["Statement"])]
    publishes = [s for s in statements if s.get("Effect") == "Allow"
                 and any(a in ("sns:Publish", "sns:*", "*") for a in as_list(s.get("Action", [])))]
    if not publishes:
        fail("RegistrationTopic: no topic policy lets the organization's member accounts publish")
    for statement in publishes:
        org = statement.get("Condition", {}).get("StringEquals", {}).get("aws:PrincipalOrgID")
        if org != {"Ref": "OrganizationId"}:
            fail(f"RegistrationTopic: policy statement {statement.get('Sid', '?')} allows sns:Publish "
                 "without StringEquals aws:PrincipalOrgID !Ref OrganizationId (only the organization "
                 "may publish)")


def main():
    template = load()
    check_parameters(template)
    check_registration_budget(template)
    check_secret_confined(template)
    check_environment(template)
    check_names(template)
    check_timeouts(template)
    check_functions_and_setup(template)
    check_encryption(template)
    check_registration_publishers(template)
    for failure in dict.fromkeys(failures):
        print(f"template.yaml: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
