"""Security scans of template.yaml and stacksets/*.yaml, offline; zero unexplained findings.

1. checkov (its CLI, from .venv-scan: it cannot share .venv, see requirements-scan.txt), framework
   cloudformation, on every template in one run, with nothing downloaded. Every failed check
   fails; what the templates keep is suppressed where it is, in the resource's Metadata
   (checkov: skip: - id: CKV_AWS_xx, comment: the reason), and a suppression without a reason
   fails too.
2. cfn-lint with its informational rules (--include-checks I): any finding fails; what is kept
   is ignored in the resource's Metadata (cfn-lint: config: ignore_checks), with a YAML
   comment giving the reason.
3. parliament (its Python API) on every IAM policy document of the templates: roles' trust and
   inline policies, IAM policies and managed policies, SAM functions' Policies statements, and
   the resource policies (queue, topic and bucket policies, KMS key policies). Intrinsic
   functions are resolved to placeholder values of the right shape (ARNs of the resource type
   for Ref/GetAtt, parameter defaults or the example values of PLACEHOLDERS, the true branch of
   Fn::If, so that a conditional statement is checked). Findings kept are listed in ALLOWED
   with their reason; an ALLOWED entry that no longer matches anything fails as well.

Run by tools/lint-templates.sh; prints nothing and exits 0 when nothing unexplained is found.
"""

import fnmatch
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from cfnlint.decode import decode
from parliament import analyze_policy_string

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
SCAN_VENV = ROOT / ".venv-scan"

PSEUDO = {"AWS::Partition": "aws", "AWS::AccountId": "123456789012", "AWS::Region": "us-east-1",
          "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "lacework-ct"}
ACCOUNT, REGION = PSEUDO["AWS::AccountId"], PSEUDO["AWS::Region"]

# Parameters without a usable default, as a deployment would give them.
PLACEHOLDERS = {
    "OrganizationId": "o-a1b2c3d4e5",
    "LogArchiveAccountId": "111111111111",
    "AuditAccountId": "222222222222",
    "LaceworkAccount": "acme",
    "ExternalIdSuffix": "0123456789abcdef",
    "CloudTrailBucketName": "aws-controltower-logs-111111111111-us-east-1",
    "CloudTrailKeyPrefix": "org",
    "CloudTrailKmsKeyArn": "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "CloudTrailTopicArn": "arn:aws:sns:us-east-1:222222222222:aws-controltower-AllConfigNotifications",
    "AuditQueueArn": "arn:aws:sqs:us-east-1:222222222222:lacework-ct-audit-queue",
    "AuditQueueKmsKeyArn": "arn:aws:kms:us-east-1:222222222222:key/5678abcd-12ab-34cd-56ef-1234567890ab",
    "QueueKmsKeyArn": "arn:aws:kms:us-east-1:222222222222:key/5678abcd-12ab-34cd-56ef-1234567890ab",
    "LogArchiveRoleArn": "arn:aws:iam::111111111111:role/lacework-ct-cross-account-role",
    "RegistrationTopicArn": "arn:aws:sns:us-east-1:123456789012:lacework-ct-registration-topic",
    "TrailKmsKeyArn": "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:operations-alerts",
}

# Findings parliament makes that the templates keep: (template, policy, issue, a piece of the
# finding's detail or location that singles it out) -> the reason. Template and policy are
# shell patterns.
ALLOWED = {
    ("*", "* trust policy", "MALFORMED", "neither Resource nor NotResource"):
        "A role's trust policy is a resource policy of the role itself: it names the Principal "
        "that may assume the role and, by definition, no Resource (IAM refuses one there).",
    ("*", "* key policy", "RESOURCE_STAR", ""):
        "In a KMS key policy \"*\" is the key the policy is attached to, and the only form a key "
        "policy accepts; who may use the key is each statement's Principal and Condition.",
    ("log-archive-s3-notifications.yaml", "NotificationKey key policy",
     "PERMISSIONS_MANAGEMENT_ACTIONS", "kms:putkeypolicy"):
        "AccountAdministersKey: the account itself (root) gets kms:* on its own key, AWS's default "
        "key policy statement. It lets the account's IAM policies govern the key (the Log Archive "
        "role's kms:Decrypt is granted that way), and without it the key could become "
        "unmanageable. No other principal administers the key.",
    ("template.yaml", "RegistrationTopicKey key policy", "PERMISSIONS_MANAGEMENT_ACTIONS",
     "kms:putkeypolicy"):
        "AccountAdministersKey: the account itself (root) administers the key and is granted no "
        "use of it. PutKeyPolicy lets CloudFormation update the policy, RevokeGrant clean up; "
        "without them the key would become unmanageable.",
    ("template.yaml", "SetupRole policy setup", "CREDENTIALS_EXPOSURE", "sts:assumerole"):
        "ActInLogArchive: setup assumes AWSControlTowerExecution in the Log Archive account, that "
        "role only (tools/least_privilege.py pins the ARN), to add the trail bucket's event "
        "notification when the trail has no SNS topic; the credentials never leave the function.",
    ("template.yaml", "SetupRole policy setup", "PERMISSIONS_MANAGEMENT_ACTIONS", "iam:passrole"):
        "PassStackSetAdministrationRole: iam:PassRole of Control Tower's StackSet administration "
        "role only, and only to CloudFormation (iam:PassedToService), as CreateStackSet and "
        "UpdateStackSet need it to run the product's StackSets.",
}


# --- templates ------------------------------------------------------------------------------

def templates():
    found = sorted((ROOT / "stacksets").glob("*.yaml"))
    if (ROOT / "template.yaml").exists():
        found.append(ROOT / "template.yaml")
    return found


def load(path):
    template, matches = decode(str(path))
    if matches:
        raise SystemExit(f"scan_templates: {path.name}: cannot parse: {matches[0]}")
    return json.loads(json.dumps(template))


# --- 1. checkov -----------------------------------------------------------------------------

def start_checkov(paths):
    """checkov runs while the other scanners do; finish_checkov reads its report."""
    checkov = SCAN_VENV / "bin" / "checkov"
    # Not --quiet: in JSON it would drop the skipped checks, whose reasons are checked here.
    command = [str(checkov), "--framework", "cloudformation", "--compact",
               "--skip-download", "--output", "json"]
    for path in paths:
        command += ["--file", str(path.relative_to(ROOT))]
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CKV_SKIP_PACKAGE_UPDATE_CHECK="TRUE")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish_checkov(process):
    stdout, stderr = process.communicate()
    try:
        reports = json.loads(stdout)
    except ValueError:
        return [f"checkov did not answer in JSON (exit {process.returncode}):\n"
                f"{stdout[-2000:]}{stderr[-2000:]}"]
    if isinstance(reports, dict):
        # No findings at all: checkov then prints a bare summary instead of a report.
        reports = [reports] if "results" in reports else []
    problems = []
    for report in reports:
        summary = report.get("summary", {})
        if summary.get("parsing_errors"):
            problems.append(f"checkov could not parse {summary['parsing_errors']} template(s)")
        for failed in report["results"].get("failed_checks", []):
            problems.append(f"checkov: {failed['file_path'].lstrip('/')}: {failed['resource']}: "
                            f"{failed['check_id']} {failed['check_name']}")
        for skipped in report["results"].get("skipped_checks", []):
            comment = (skipped.get("check_result", {}).get("suppress_comment") or "").strip()
            if len(comment.split()) < 4 or comment == "No comment provided":
                problems.append(f"checkov: {skipped['file_path'].lstrip('/')}: {skipped['resource']}: "
                                f"{skipped['check_id']} is skipped without a reason")
    return problems


# --- 2. cfn-lint, informational rules ---------------------------------------------------------

def run_cfn_lint_informational(paths):
    command = [str(VENV / "bin" / "cfn-lint"), "--include-checks", "I",
               "--non-zero-exit-code", "informational", "--"] + [str(p.relative_to(ROOT)) for p in paths]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode == 0:
        return []
    return [f"cfn-lint --include-checks I:\n{(result.stdout + result.stderr).strip()}"]


# --- 3. parliament --------------------------------------------------------------------------

class Unresolved(Exception):
    pass


NO_VALUE = object()


class Resolver:
    """Turns a template fragment into plain JSON with placeholder values."""

    def __init__(self, template):
        self.template = template
        self.resources = template.get("Resources", {})
        self.parameters = template.get("Parameters", {})

    def name_of(self, logical_id):
        props = self.resources[logical_id].get("Properties", {})
        for key in ("QueueName", "TopicName", "RoleName", "FunctionName", "LogGroupName", "Name",
                    "PolicyName", "ManagedPolicyName", "AliasName", "BucketName"):
            if key in props:
                return self.resolve(props[key])
        return logical_id.lower()

    def ref(self, name):
        if name in PSEUDO:
            return PSEUDO[name]
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            if name in PLACEHOLDERS:
                return PLACEHOLDERS[name]
            default = self.parameters[name].get("Default")
            if default not in (None, ""):
                return str(default)
            raise Unresolved(f"parameter {name} has no default and no entry in PLACEHOLDERS")
        if name in self.resources:
            kind = self.resources[name]["Type"]
            if kind == "AWS::SQS::Queue":
                return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{self.name_of(name)}"
            if kind in ("AWS::SNS::Topic", "AWS::SecretsManager::Secret"):
                return self.arn(name)
            if kind == "AWS::KMS::Key":
                return "0a1b2c3d-4e5f-6789-abcd-ef0123456789"
            return self.name_of(name)
        raise Unresolved(f"Ref to unknown {name}")

    def arn(self, logical_id):
        kind = self.resources[logical_id]["Type"]
        name = self.name_of(logical_id)
        shapes = {
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}",
            "AWS::SecretsManager::Secret": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf",
            "AWS::KMS::Key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
            "AWS::Events::Rule": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
        }
        if kind not in shapes:
            raise Unresolved(f"no ARN shape for {logical_id} ({kind})")
        return shapes[kind]

    def get_att(self, logical_id, attribute):
        if logical_id not in self.resources:
            raise Unresolved(f"GetAtt of unknown {logical_id}")
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in ("QueueName", "TopicName", "Name"):
            return self.name_of(logical_id)
        raise Unresolved(f"GetAtt {logical_id}.{attribute}")

    def sub(self, text, variables):
        def replace(match):
            key = match.group(1)
            if key in variables:
                return str(variables[key])
            if "." in key:
                return str(self.get_att(*key.split(".", 1)))
            value = self.ref(key)
            if value is NO_VALUE:
                raise Unresolved(f"${{{key}}} in Fn::Sub")
            return str(value)
        return re.sub(r"\$\{([^!}][^}]*)\}", replace, text)

    def resolve(self, node):
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                logical_id, attribute = value if isinstance(value, list) else value.split(".", 1)
                return self.get_att(logical_id, attribute)
            if key == "Fn::Sub":
                if isinstance(value, list):
                    text, variables = value
                    return self.sub(text, {k: self.resolve(v) for k, v in variables.items()})
                return self.sub(value, {})
            if key == "Fn::If":
                # The true branch: a statement present only under a condition is checked too.
                return self.resolve(value[1])
            if key == "Fn::Join":
                separator, parts = value
                return separator.join(str(p) for p in self.resolve(parts))
            if key == "Fn::Select":
                index, items = value
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = value
                return self.resolve(text).split(separator)
            if key.startswith("Fn::") or key == "Condition":
                raise Unresolved(f"{key} in a policy")
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}


def policy_documents(template):
    """(where, document) for every policy document of a template."""
    found = []
    for logical_id, resource in template.get("Resources", {}).items():
        kind, props = resource.get("Type"), resource.get("Properties", {})
        if kind == "AWS::IAM::Role":
            found.append((f"{logical_id} trust policy", props.get("AssumeRolePolicyDocument")))
            for policy in props.get("Policies", []):
                found.append((f"{logical_id} policy {policy.get('PolicyName')}", policy.get("PolicyDocument")))
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::SQS::QueuePolicy",
                      "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy"):
            found.append((f"{logical_id}", props.get("PolicyDocument")))
        elif kind == "AWS::KMS::Key":
            found.append((f"{logical_id} key policy", props.get("KeyPolicy")))
        elif kind == "AWS::Serverless::Function":
            if "AssumeRolePolicyDocument" in props:
                found.append((f"{logical_id} trust policy", props["AssumeRolePolicyDocument"]))
            policies = props.get("Policies", [])
            policies = policies if isinstance(policies, list) else [policies]
            for index, policy in enumerate(policies):
                # A managed policy's name or ARN, or a SAM policy template, is AWS's text.
                if isinstance(policy, dict) and "Statement" in policy:
                    found.append((f"{logical_id} Policies[{index}]", policy))
    return [(where, document) for where, document in found if document is not None]


def run_parliament(paths):
    problems, used = [], set()
    for path in paths:
        template = load(path)
        resolver = Resolver(template)
        for where, document in policy_documents(template):
            try:
                resolved = resolver.resolve(document)
            except Unresolved as error:
                problems.append(f"parliament: {path.name}: {where}: cannot resolve: {error}")
                continue
            policy = analyze_policy_string(json.dumps(resolved), include_community_auditors=True)
            for finding in policy.findings:
                text = f"{finding.detail} {finding.location}"
                keys = [key for key in ALLOWED
                        if fnmatch.fnmatchcase(path.name, key[0]) and fnmatch.fnmatchcase(where, key[1])
                        and key[2] == finding.issue and key[3] in text]
                if keys:
                    used.update(keys)
                    continue
                problems.append(f"parliament: {path.name}: {where}: {finding.issue}: "
                                f"{finding.detail} {finding.location}")
    for key in sorted(set(ALLOWED) - used):
        problems.append(f"parliament: ALLOWED entry {key} matches no finding any more; remove it")
    return problems


def main():
    paths = templates()
    checkov = start_checkov(paths)
    problems = run_cfn_lint_informational(paths) + run_parliament(paths)
    problems = finish_checkov(checkov) + problems
    for problem in problems:
        print(f"scan_templates: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
