"""Checks the StackSet templates beyond what cfn-lint knows, offline.

1. Conventions: every parameter is described and constrained with a message a person
   understands, external id suffixes are NoEcho, every template carries its Metadata summary,
   and no ARN in Resources or Outputs hard-codes the `aws` partition.
2. Parameter patterns: realistic values are accepted and typical mistakes are refused.
3. Deployment: each template creates a stack in an in-process moto (what the local landing zone
   runs), with the expected resources, settings and outputs. Resource types that moto's
   CloudFormation skips are allowed only from a known list.

Run by tools/lint-templates.sh; prints nothing and exits 0 when every check passes.
"""

import ast
import json
import logging
import re
import sys
import warnings
from pathlib import Path

import boto3
from cfnlint.decode import decode
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "stacksets").glob("*.yaml"))

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
BUCKET = "aws-controltower-logs-123456789012-us-east-1"
SUFFIX = "Zq8vR2mX5tLp"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:lacework-ct-audit-queue"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:aws-controltower-AllConfigNotifications"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/lacework-ct-cross-account-role"

# moto 5.x's CloudFormation skips these types with a warning and still completes the stack.
# Harmless locally: moto enforces no resource policies, and the landing zone delivers SNS
# messages to SQS itself. Any other unsupported type would silently vanish: refuse it.
SKIPPED_BY_MOTO = {"AWS::SQS::QueuePolicy", "AWS::SNS::Subscription", "AWS::SNS::TopicPolicy"}

# Values each parameter must accept and refuse, wherever a template declares it.
PATTERN_CASES = {
    "LaceworkAccount": (["acme", "my-company", "ACME1"],
                        ["acme.lacework.net", "https://acme.lacework.net", "-acme", ""]),
    "ExternalIdSuffix": ([SUFFIX, "a:b/c=d,e.f@g", "x" * 256],
                         ["short", "has spaces in it", "", "x" * 257]),
    "LaceworkPrincipalArn": (["arn:aws:iam::434813966438:role/lacework-platform",
                              "arn:aws-us-gov:iam::123456789012:role/lacework-platform",
                              "arn:aws:iam::123456789012:root"],
                             ["434813966438", "arn:aws:iam::434813966438:user/x", ""]),
    "RoleName": (["lacework-ct-cross-account-role", "a"], ["has space", "x" * 65, ""]),
    "CloudTrailBucketName": ([BUCKET, "my.bucket-1"],
                             ["s3://bucket", "arn:aws:s3:::bucket", "Bucket", "b", ""]),
    "CloudTrailKeyPrefix": (["", "o-abc123def4", "logs/org"],
                            ["/logs", "logs/", "a//b", "a*", "a b"]),
    "CloudTrailKmsKeyArn": (["", KEY_ARN,
                             f"arn:aws-cn:kms:cn-north-1:{ACCOUNT}:key/mrk-0123456789abcdef"],
                            [f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/trail",
                             "1234abcd-12ab-34cd-56ef-1234567890ab"]),
    "AuditQueueArn": ([QUEUE_ARN],
                      [f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/q",
                       f"arn:aws:sqs:{REGION}:{ACCOUNT}:q.fifo", ""]),
    "AuditQueueKmsKeyArn": (["", KEY_ARN], [f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/q"]),
    "CloudTrailTopicArn": ([TOPIC_ARN], [QUEUE_ARN, "aws-controltower-AllConfigNotifications", ""]),
    "LogArchiveRoleArn": ([ROLE_ARN], [f"arn:aws:iam::{ACCOUNT}:root", "lacework-role", ""]),
    "QueueName": (["lacework-ct-audit-queue"], ["q.fifo", "has space", "x" * 81, ""]),
    "QueueKmsKeyArn": (["", KEY_ARN], ["alias/aws/sqs"]),
    "RegistrationTopicArn": (["", f"arn:aws:sns:{REGION}:{ACCOUNT}:lacework-ct-registration"],
                             ["lacework-ct-registration", QUEUE_ARN]),
    "TopicName": (["lacework-ct-s3-notifications"], ["t.fifo", "has space", ""]),
}

failures = []


class MotoLog(logging.Handler):
    """Keeps moto's log lines (it logs the resource types it skips) instead of printing them."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record.getMessage())


moto_log = MotoLog()
logging.getLogger("moto").addHandler(moto_log)
logging.getLogger("moto").propagate = False


def fail(template, message):
    failures.append(f"{template}: {message}")


def load(path):
    template, matches = decode(str(path))
    if matches:
        raise SystemExit(f"{path.name}: cannot parse: {matches[0]}")
    return template


def check_conventions(name, template):
    if template.get("AWSTemplateFormatVersion") != "2010-09-09":
        fail(name, "AWSTemplateFormatVersion must be 2010-09-09")
    if not template.get("Metadata", {}).get("LaceworkControlTower", {}).get("Summary"):
        fail(name, "Metadata.LaceworkControlTower.Summary is missing")
    for key, param in template.get("Parameters", {}).items():
        where = f"$.Parameters.{key}"
        if not param.get("Description"):
            fail(name, f"{where} has no Description")
        if "AllowedPattern" not in param and "AllowedValues" not in param:
            fail(name, f"{where} has neither AllowedPattern nor AllowedValues")
        if not param.get("ConstraintDescription"):
            fail(name, f"{where} has no ConstraintDescription")
        if "Suffix" in key and not param.get("NoEcho"):
            fail(name, f"{where} holds a secret and must be NoEcho")
        pattern = param.get("AllowedPattern")
        if pattern is not None and "Default" in param and not re.fullmatch(pattern, param["Default"]):
            fail(name, f"{where}.Default {param['Default']!r} does not match its own pattern")
    body = json.dumps({k: template.get(k) for k in ("Resources", "Outputs")})
    for hard_coded in re.findall(r"arn:aws(?:-[a-z]+)*:[a-z0-9-]+:", body):
        fail(name, f"hard-coded partition in Resources/Outputs ({hard_coded}...): use ${{AWS::Partition}}")


def check_patterns(name, template):
    for key, param in template.get("Parameters", {}).items():
        pattern = param.get("AllowedPattern")
        cases = PATTERN_CASES.get(key)
        if pattern is None:
            continue
        if cases is None:
            fail(name, f"$.Parameters.{key}: no pattern cases in PATTERN_CASES")
            continue
        accepted, refused = cases
        for value in accepted:
            if not re.fullmatch(pattern, value):
                fail(name, f"$.Parameters.{key} refuses the valid value {value!r}")
        for value in refused:
            if re.fullmatch(pattern, value):
                fail(name, f"$.Parameters.{key} accepts the invalid value {value!r}")


def deploy(name, parameters):
    """Creates the template as a stack in the current moto; returns its outputs, or None."""
    body = (ROOT / "stacksets" / name).read_text()
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    moto_log.records.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cloudformation.create_stack(
                StackName=name.removesuffix(".yaml"),
                TemplateBody=body,
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                Capabilities=["CAPABILITY_NAMED_IAM"],
            )
        except Exception as error:  # moto raises whatever its model raised
            fail(name, f"moto cannot create the stack: {error!r}")
            return None
    messages = [str(w.message) for w in caught] + moto_log.records
    for message in messages:
        skipped = re.search(r"(?:Tried to parse|support for) (\S+)", message)
        if skipped and skipped.group(1) not in SKIPPED_BY_MOTO:
            fail(name, f"moto cannot create {skipped.group(1)}: the local landing zone would lack it")
    stack = cloudformation.describe_stacks(StackName=name.removesuffix(".yaml"))["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        fail(name, f"stack ended in {stack['StackStatus']}")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def expect(name, what, actual, wanted):
    if actual != wanted:
        fail(name, f"{what}: expected {wanted!r}, got {actual!r}")


def role_documents(role_name):
    iam = boto3.client("iam")
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    inline = {
        policy: iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]
        for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    }
    return as_document(trust), {policy: as_document(doc) for policy, doc in inline.items()}


def as_document(document):
    """moto 5.x hands back a CloudFormation-made inline policy as Python repr text, and keeps
    list items that AWS::NoValue removed as None; real IAM returns JSON without them."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            document = ast.literal_eval(document)
    statements = document.get("Statement", [])
    if isinstance(statements, list):
        document["Statement"] = [s for s in statements if s is not None]
    return document


def check_trust(name, trust):
    (statement,) = trust["Statement"]
    expect(name, "trusted principal", statement["Principal"]["AWS"],
           "arn:aws:iam::434813966438:role/lacework-platform")
    expect(name, "external id", statement["Condition"]["StringEquals"]["sts:ExternalId"],
           f"lweid:aws:v2:acme:{ACCOUNT}:{SUFFIX}")


def statements_by_sid(document):
    return {s["Sid"]: s for s in document["Statement"]}


def check_log_archive(prefix, with_keys):
    name = "log-archive.yaml"
    parameters = {"LaceworkAccount": "acme", "ExternalIdSuffix": SUFFIX,
                  "CloudTrailBucketName": BUCKET, "AuditQueueArn": QUEUE_ARN}
    if prefix:
        parameters["CloudTrailKeyPrefix"] = prefix
    if with_keys:
        parameters["CloudTrailKmsKeyArn"] = KEY_ARN
        parameters["AuditQueueKmsKeyArn"] = KEY_ARN
    with mock_aws():
        outputs = deploy(name, parameters)
        if outputs is None:
            return
        expect(name, "outputs", outputs,
               {"CrossAccountRoleArn": f"arn:aws:iam::{ACCOUNT}:role/lacework-ct-cross-account-role"})
        trust, inline = role_documents("lacework-ct-cross-account-role")
        check_trust(name, trust)
        statements = statements_by_sid(inline["read-control-tower-trail"])
        logs = f"{prefix}/AWSLogs" if prefix else "AWSLogs"
        wanted_sids = {"ReadLogFiles", "ListLogFiles", "LocateBucket", "ConsumeAuditQueue"}
        if with_keys:
            wanted_sids |= {"DecryptLogFiles", "DecryptQueueMessages"}
        expect(name, "statements", set(statements), wanted_sids)
        expect(name, "log objects", statements["ReadLogFiles"]["Resource"],
               f"arn:aws:s3:::{BUCKET}/{logs}/*")
        expect(name, "listable prefix",
               statements["ListLogFiles"]["Condition"]["StringLike"]["s3:prefix"], f"{logs}/*")
        expect(name, "queue", statements["ConsumeAuditQueue"]["Resource"], QUEUE_ARN)


SEED_QUEUE_SETTINGS = {"VisibilityTimeout": "30", "MessageRetentionPeriod": "604800",
                       "DelaySeconds": "0", "MaximumMessageSize": "262144",
                       "ReceiveMessageWaitTimeSeconds": "0"}


def check_queue(name, queue_url, encryption):
    attributes = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    for key, value in {**SEED_QUEUE_SETTINGS, **encryption}.items():
        expect(name, f"queue attribute {key}", attributes.get(key), value)


def check_audit(with_key):
    name = "audit.yaml"
    parameters = {"CloudTrailTopicArn": TOPIC_ARN, "LogArchiveRoleArn": ROLE_ARN}
    if with_key:
        parameters["QueueKmsKeyArn"] = KEY_ARN
    with mock_aws():
        outputs = deploy(name, parameters)
        if outputs is None:
            return
        expect(name, "outputs", outputs, {
            "QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/lacework-ct-audit-queue",
            "QueueArn": QUEUE_ARN})
        encryption = {"KmsMasterKeyId": KEY_ARN} if with_key else {"SqsManagedSseEnabled": "true"}
        check_queue(name, outputs["QueueUrl"], encryption)


def check_member():
    name = "member.yaml"
    with mock_aws():
        outputs = deploy(name, {"LaceworkAccount": "acme", "ExternalIdSuffix": SUFFIX})
        if outputs is None:
            return
        expect(name, "outputs", outputs,
               {"CrossAccountRoleArn": f"arn:aws:iam::{ACCOUNT}:role/lacework-ct-config-role"})
        trust, inline = role_documents("lacework-ct-config-role")
        check_trust(name, trust)
        for sid, statement in statements_by_sid(inline["read-beyond-security-audit"]).items():
            if statement["Resource"] == "*" and sid != "ReadsWithoutResourceLevelPermissions":
                fail(name, f"statement {sid} grants on every resource; name the account's own")
            if any(not a.split(":")[1].startswith(("Get", "List", "Describe", "GET"))
                   for a in ([statement["Action"]] if isinstance(statement["Action"], str)
                             else statement["Action"])):
                fail(name, f"statement {sid} grants more than reads")
        resources = boto3.client("cloudformation", region_name=REGION).list_stack_resources(
            StackName="member")["StackResourceSummaries"]
        if any(r["ResourceType"].startswith("Custom::") for r in resources):
            fail(name, "the registration custom resource exists without a registration topic")


def check_s3_notifications():
    name = "log-archive-s3-notifications.yaml"
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:lacework-ct-s3-notifications"
    with mock_aws():
        outputs = deploy(name, {"CloudTrailBucketName": BUCKET})
        if outputs is None:
            return
        expect(name, "outputs", set(outputs), {"TopicArn", "QueueUrl", "QueueArn", "KmsKeyArn"})
        expect(name, "topic", outputs.get("TopicArn"), topic)
        key_arn = outputs.get("KmsKeyArn", "")
        topic_attributes = boto3.client("sns", region_name=REGION).get_topic_attributes(
            TopicArn=topic)["Attributes"]
        expect(name, "topic key", topic_attributes.get("KmsMasterKeyId"), key_arn)
        check_queue(name, outputs.get("QueueUrl", ""), {"KmsMasterKeyId": key_arn})
        kms = boto3.client("kms", region_name=REGION)
        aliases = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
        if "alias/lacework-ct-s3-notifications" not in aliases:
            fail(name, "the key has no alias/lacework-ct-s3-notifications")
        policy = as_document(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
        expect(name, "key policy statements", [s["Sid"] for s in policy["Statement"]],
               ["AccountAdministersKey", "CloudTrailBucketPublishes", "TopicDeliversToQueue"])


def main():
    for path in TEMPLATES:
        template = load(path)
        check_conventions(path.name, template)
        check_patterns(path.name, template)
    check_log_archive(prefix="", with_keys=False)
    check_log_archive(prefix="o-abc123def4", with_keys=True)
    check_audit(with_key=False)
    check_audit(with_key=True)
    check_member()
    check_s3_notifications()
    for failure in dict.fromkeys(failures):  # each problem once, in order found
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
