"""Unit tests of tools/check_event_patterns.py: the unwrapping, the table's completeness, and that
a pattern that lets through (or keeps out) the wrong events is reported with fixture and rule.

Run by tools/lint-templates.sh: python -m unittest tools/check_event_patterns_test.py
"""

import json
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import check_event_patterns as cep  # noqa: E402

EVENTS = cep.EVENTS


def load(name):
    return json.loads((EVENTS / name).read_text())


class Unwrapping(unittest.TestCase):
    def test_bare_event(self):
        [event] = cep.events_in(load("close-account.json"))
        self.assertEqual(event["detail"]["eventName"], "CloseAccount")

    def test_sns_sqs_and_sqs_of_sns(self):
        for name, event_name in [("sns-create-managed-account.json", "CreateManagedAccount"),
                                 ("sqs-create-managed-account.json", "CreateManagedAccount"),
                                 ("sqs-of-sns-update-managed-account.json", "UpdateManagedAccount")]:
            [event] = cep.events_in(load(name))
            self.assertEqual(event["detail"]["eventName"], event_name, name)

    def test_batch_keeps_order(self):
        sources = [e["source"] for e in cep.events_in(load("sqs-batch-create-ignored-move.json"))]
        self.assertEqual(sources, ["aws.controltower", "aws.ec2", "aws.organizations"])

    def test_not_json_is_not_an_event(self):
        for name in ["broken-sns-message-not-json.json", "broken-sqs-body-not-json.json"]:
            with self.assertRaises(cep.NotAnEvent, msg=name):
                cep.events_in(load(name))

    def test_event_missing_a_field_is_not_an_event(self):
        event = load("close-account.json")
        del event["detail"]
        with self.assertRaises(cep.NotAnEvent):
            cep.events_in(event)


class AgainstFixtures(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.dir)
        self.events = self.dir / "lifecycle"
        shutil.copytree(EVENTS, self.events)
        self.template = self.dir / "template.yaml"
        shutil.copy(cep.TEMPLATE, self.template)

    def edit_template(self, old, new):
        text = self.template.read_text()
        self.assertIn(old, text)
        self.template.write_text(text.replace(old, new, 1))

    def test_the_real_template_passes(self):
        self.assertEqual(cep.check(self.template, self.events, cep.EXPECTED), [])

    def test_an_unlisted_fixture_fails(self):
        shutil.copy(self.events / "close-account.json", self.events / "close-account-again.json")
        problems = cep.check(self.template, self.events, cep.EXPECTED)
        self.assertTrue(any("close-account-again.json: not in EXPECTED" in p for p in problems), problems)

    def test_a_listed_fixture_that_is_gone_fails(self):
        (self.events / "move-account.json").unlink()
        problems = cep.check(self.template, self.events, cep.EXPECTED)
        self.assertTrue(any("move-account.json: in EXPECTED but no such fixture" in p for p in problems),
                        problems)

    def test_failed_calls_let_through_are_named_with_the_rule(self):
        self.edit_template("          errorCode:\n            - exists: false\n", "")
        problems = cep.check(self.template, self.events, cep.EXPECTED)
        self.assertEqual(problems, ["events/lifecycle/close-account-failed.json: must reach no rule, "
                                    "reaches AccountExitRule"])

    def test_an_event_kept_out_is_named_with_the_rule(self):
        self.edit_template("            - SetupLandingZone\n", "")
        problems = cep.check(self.template, self.events, cep.EXPECTED)
        self.assertEqual(problems, ["events/lifecycle/setup-landing-zone.json: must reach "
                                    "ControlTowerLifecycleRule only, reaches no rule"])

    def test_a_record_of_a_batch_is_named(self):
        self.edit_template("            - MoveAccount\n", "")
        problems = cep.check(self.template, self.events, cep.EXPECTED)
        self.assertIn("events/lifecycle/sqs-batch-create-ignored-move.json (event 3 of 3): must reach "
                      "AccountExitRule only, reaches no rule", problems)
        self.assertIn("events/lifecycle/move-account.json: must reach AccountExitRule only, reaches no rule",
                      problems)

    def test_a_pattern_on_fields_put_events_cannot_set_is_reported(self):
        self.edit_template("        source:\n          - aws.organizations\n",
                           "        source:\n          - aws.organizations\n        account:\n"
                           "          - '111111111111'\n")
        problems = cep.check(self.template, self.events, cep.EXPECTED)
        self.assertTrue(any(p.startswith("AccountExitRule: the pattern tests ['account']") for p in problems),
                        problems)

    def test_not_an_event_only_for_broken_fixtures(self):
        expected = dict(cep.EXPECTED, **{"close-account.json": cep.NOT_AN_EVENT})
        problems = cep.check(self.template, self.events, expected)
        self.assertIn("events/lifecycle/close-account.json: only broken-* fixtures may be NOT_AN_EVENT",
                      problems)


if __name__ == "__main__":
    unittest.main()
