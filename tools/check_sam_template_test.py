"""Each rule of tools/check_sam_template.py that the template work added fails on a template
broken on purpose, and names the resource; the real template passes. Run by
tools/lint-templates.sh (python -m unittest tools/check_sam_template_test.py)."""

import copy
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_sam_template as check  # noqa: E402

TEMPLATE = check.load()


def failures_of(mutate, *rules):
    template = copy.deepcopy(TEMPLATE)
    mutate(template["Resources"], template)
    check.failures.clear()
    for rule in rules:
        rule(template)
    found = list(check.failures)
    check.failures.clear()
    return found


RULES = (check.check_timeouts, check.check_encryption, check.check_registration_publishers)


def key_statement(resources, sid):
    statements = resources["RegistrationTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    return next(s for s in statements if s["Sid"] == sid)


def topic_statement(resources):
    return resources["RegistrationTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]


class RulesTest(unittest.TestCase):
    def assert_fails(self, mutate, *needles):
        found = failures_of(mutate, *RULES)
        self.assertTrue(found, "the broken template passed")
        text = "\n".join(found)
        for needle in needles:
            self.assertIn(needle, text)

    def test_the_template_passes(self):
        self.assertEqual(failures_of(lambda r, t: None, *RULES), [])

    def test_visibility_below_six_timeouts(self):
        def mutate(resources, _):
            resources["AccountQueue"]["Properties"]["VisibilityTimeout"] = 899
        self.assert_fails(mutate, "AccountQueue: VisibilityTimeout 899 s", "AccountLifecycleFunction")

    def test_visibility_default(self):
        def mutate(resources, _):
            del resources["AccountQueue"]["Properties"]["VisibilityTimeout"]
        self.assert_fails(mutate, "AccountQueue: VisibilityTimeout 30 s")

    def test_unencrypted_queue(self):
        def mutate(resources, _):
            del resources["RegistrationDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"]
        self.assert_fails(mutate, "RegistrationDeadLetterQueue: the queue is not encrypted")

    def test_queue_with_kms_key_passes(self):
        def mutate(resources, _):
            props = resources["AccountDeadLetterQueue"]["Properties"]
            del props["SqsManagedSseEnabled"]
            props["KmsMasterKeyId"] = "alias/aws/sqs"
        self.assertEqual(failures_of(mutate, *RULES), [])

    def test_unencrypted_topic(self):
        def mutate(resources, _):
            del resources["RegistrationTopic"]["Properties"]["KmsMasterKeyId"]
        self.assert_fails(mutate, "RegistrationTopic: the topic is not encrypted")

    def test_aws_managed_key_on_a_cross_account_topic(self):
        def mutate(resources, _):
            resources["RegistrationTopic"]["Properties"]["KmsMasterKeyId"] = "alias/aws/sns"
        self.assert_fails(mutate, "RegistrationTopic: others publish", "alias/aws/sns")

    def test_aws_managed_key_on_a_private_topic_passes(self):
        def mutate(resources, _):
            resources["PrivateTopic"] = {"Type": "AWS::SNS::Topic",
                                         "Properties": {"KmsMasterKeyId": "alias/aws/sns"}}
        self.assertEqual(failures_of(mutate, *RULES), [])

    def test_key_misses_the_publisher(self):
        def mutate(resources, _):
            del key_statement(resources, "OrganizationPublishes")["Condition"]["StringEquals"]["aws:PrincipalOrgID"]
        self.assert_fails(mutate, "RegistrationTopicKey: no key policy statement",
                          "RegistrationTopicPolicy.OrganizationPublishes",
                          "RegistrationTopicKey.OrganizationPublishes: lets a principal use the key")

    def test_key_grants_its_use_to_the_account(self):
        def mutate(resources, _):
            key_statement(resources, "AccountAdministersKey")["Action"] = "kms:*"
        self.assert_fails(mutate, "RegistrationTopicKey.AccountAdministersKey: lets a principal use the key")

    def test_key_grants_the_publisher_too_much(self):
        def mutate(resources, _):
            key_statement(resources, "OrganizationPublishes")["Action"].append("kms:Encrypt")
        self.assert_fails(mutate, "RegistrationTopicKey.OrganizationPublishes: a publisher needs exactly")

    def test_key_usable_outside_sns(self):
        def mutate(resources, _):
            del key_statement(resources, "OrganizationPublishes")["Condition"]["StringEquals"]["kms:ViaService"]
        self.assert_fails(mutate, "RegistrationTopicKey.OrganizationPublishes: publishers may use the key only through")

    def test_topic_open_to_everyone(self):
        def mutate(resources, _):
            del topic_statement(resources)["Condition"]
            del key_statement(resources, "OrganizationPublishes")["Condition"]["StringEquals"]["aws:PrincipalOrgID"]
        self.assert_fails(mutate, "RegistrationTopic: policy statement OrganizationPublishes allows sns:Publish without")

    def test_topic_policy_for_another_organization(self):
        def mutate(resources, _):
            topic_statement(resources)["Condition"]["StringEquals"]["aws:PrincipalOrgID"] = "o-someoneelse"
        self.assert_fails(mutate, "allows sns:Publish without StringEquals aws:PrincipalOrgID")

    def test_organization_parameter_without_pattern(self):
        def mutate(_, template):
            del template["Parameters"]["OrganizationId"]["AllowedPattern"]
        self.assert_fails(mutate, "$.Parameters.OrganizationId")


if __name__ == "__main__":
    unittest.main()
