"""Deploys template.yaml, offline: translated by samtranslator (with a managed-policy map, no
network), then created as a stack in an in-process moto; checks that the stack is
CREATE_COMPLETE, that each function has the environment variables, role and timeout the
template gives it, and that each event source mapping, EventBridge rule target and SNS
subscription is wired to the function it should be (and each schedule's expression is the
template's).

Run by tools/lint-templates.sh; prints nothing and exits 0 when every check passes. A
`template` argument deploys another file (the unit tests' broken templates).
"""

import io
import logging
import warnings
import json
import os
import sys
import zipfile
from pathlib import Path

os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                   "AWS_SECRET_ACCESS_KEY": "testing", "AWS_CONFIG_FILE": "/dev/null",
                   "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})

import boto3  # noqa: E402
from cfnlint.decode import decode  # noqa: E402
from moto import mock_aws  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
CODE_BUCKET, CODE_KEY = "lwct-code", "function.zip"
PARAMETERS = {
    "LaceworkUrl": "https://acme.lacework.net", "LaceworkAccount": "acme",
    "LaceworkApiKeyId": "ACME_0123456789ABCDEF", "LaceworkApiSecretKey": "_0123456789abcdef",
    "OrganizationId": "o-a1b2c3d4e5", "LogArchiveAccountId": "111111111111",
    "AuditAccountId": "222222222222",
}
# The AWS-managed policies the template may name, so that samtranslator needs no IAM call.
# Every function has a role of its own, so today none is used.
MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
}

failures = []


class ManagedPolicies:
    def load(self):
        return dict(MANAGED_POLICIES)


def translate(path):
    template, matches = decode(str(path))
    if matches:
        raise SystemExit(f"{path.name}: cannot parse: {matches[0]}")
    template = json.loads(json.dumps(template))  # cfn-lint's str/dict nodes -> plain
    # `sam build` uploads the code; here it is a stand-in zip in moto's S3.
    template["Globals"]["Function"]["CodeUri"] = f"s3://{CODE_BUCKET}/{CODE_KEY}"
    return template, transform(template, {}, ManagedPolicies())


def patch_for_moto(translated):
    """moto gap: CloudFormation would invoke the setup function for the custom resource, and
    moto runs Lambda code only in Docker. The custom resource (and the outputs it answers)
    is left out; tools/check_sam_template.py checks its properties."""
    resources = translated["Resources"]
    customs = [k for k, v in resources.items() if v["Type"].startswith("Custom::")]
    for logical_id in customs:
        del resources[logical_id]
    for outputs in (translated.get("Outputs", {}),):
        for key in [k for k, v in outputs.items() if any(c in json.dumps(v) for c in customs)]:
            del outputs[key]
    # moto gap: its CloudFormation skips AWS::SecretsManager::Secret (a Ref to it is then
    # empty). The secret is made through the API beforehand and Refs to it become its ARN.
    secrets = [k for k, v in resources.items() if v["Type"] == "AWS::SecretsManager::Secret"]
    for logical_id in secrets:
        props = resources.pop(logical_id)["Properties"]
        name = props["Name"]["Fn::Sub"].replace("${NamePrefix}", "lacework-ct")
        arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name=name, SecretString="{}")["ARN"]
        SECRET_ARNS[logical_id] = arn
        text = json.dumps(translated).replace(json.dumps({"Ref": logical_id}), json.dumps(arn))
        text = text.replace("${%s}" % logical_id, arn)
        translated.clear()
        translated.update(json.loads(text))
    return translated


SECRET_ARNS = {}


def stand_in_code():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("bootstrap", "#!/bin/sh\n")
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=CODE_BUCKET)
    boto3.client("s3", region_name=REGION).put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=buffer.getvalue())


def expected_value(value):
    """What a Ref to a parameter or a literal becomes in the stack; None when it is a resource."""
    if isinstance(value, dict):
        ref = value.get("Ref")
        if ref in PARAMETERS:
            return PARAMETERS[ref]
        return None
    return str(value)


def deploy(translated):
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    name = "lacework-ct"
    try:
        cloudformation.create_stack(
            StackName=name, TemplateBody=json.dumps(translated),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()],
            Capabilities=["CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"])
    except Exception as error:  # moto raises whatever its model raised
        failures.append(f"moto cannot create the stack: {error!r}")
        return None
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        failures.append(f"stack ended in {stack['StackStatus']}")
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                for r in cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]}
    return physical


def function_of(value, physical):
    """The logical id of the function a Ref/GetAtt names."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


def check(translated, physical):
    resources = translated["Resources"]
    lam = boto3.client("lambda", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    arns = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        props = resource["Properties"]
        try:
            config = lam.get_function_configuration(FunctionName=physical[logical_id])
        except Exception as error:
            failures.append(f"{logical_id}: no such function in the stack ({error!r})")
            continue
        arns[config["FunctionArn"]] = logical_id
        variables = config.get("Environment", {}).get("Variables", {})
        wanted = props.get("Environment", {}).get("Variables", {})
        if set(variables) != set(wanted):
            failures.append(f"{logical_id}: environment {sorted(variables)}, template {sorted(wanted)}")
        for key, value in wanted.items():
            expected = value if value in SECRET_ARNS.values() else expected_value(value)
            if expected is not None and variables.get(key) != expected:
                failures.append(f"{logical_id}: {key}={variables.get(key)!r}, expected {expected!r}")
        secret = SECRET_ARNS.get("LaceworkApiSecret")
        if "LACEWORK_SECRET_ARN" in wanted and variables.get("LACEWORK_SECRET_ARN") != secret:
            failures.append(f"{logical_id}: LACEWORK_SECRET_ARN is not the stack's secret")
        role = function_of(props["Role"], physical)
        role_arn = iam.get_role(RoleName=physical[role])["Role"]["Arn"]
        if config["Role"] != role_arn:
            failures.append(f"{logical_id}: role {config['Role']}, expected {role} ({role_arn})")
        if config.get("Timeout") != int(props.get("Timeout", 3)):
            failures.append(f"{logical_id}: timeout {config.get('Timeout')}, template {props.get('Timeout')}")
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    sns = boto3.client("sns", region_name=REGION)
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            queue = props["EventSourceArn"]["Fn::GetAtt"][0]
            queue_arn = sqs.get_queue_attributes(QueueUrl=physical[queue], AttributeNames=["QueueArn"])[
                "Attributes"]["QueueArn"]
            mappings = lam.list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"]
            wired = {arns.get(m["FunctionArn"]) for m in mappings}
            if wired != {function_of(props["FunctionName"], physical)}:
                failures.append(f"{logical_id}: {queue} feeds {sorted(map(str, wired))}, "
                                f"expected {function_of(props['FunctionName'], physical)}")
        elif resource["Type"] == "AWS::Events::Rule":
            rule = events.describe_rule(Name=physical[logical_id].split("|")[-1].split("/")[-1])
            expected = props.get("ScheduleExpression")
            if isinstance(expected, dict) and "Ref" in expected:
                # A parameter: the deployment gets its default.
                expected = translated["Parameters"][expected["Ref"]]["Default"]
            if expected is not None and rule.get("ScheduleExpression") != expected:
                failures.append(f"{logical_id}: schedule {rule.get('ScheduleExpression')!r}, "
                                f"template {expected!r}")
            targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
            wanted = sorted(t["Id"] for t in props.get("Targets", []))
            if sorted(t["Id"] for t in targets) != wanted:
                failures.append(f"{logical_id}: targets {sorted(t['Id'] for t in targets)}, template {wanted}")
            for target, declared in zip(sorted(targets, key=lambda t: t["Id"]),
                                        sorted(props.get("Targets", []), key=lambda t: t["Id"])):
                name = function_of(declared["Arn"], physical)
                if resources.get(name, {}).get("Type") == "AWS::Lambda::Function":
                    if arns.get(target["Arn"]) != name:
                        failures.append(f"{logical_id}: target {target['Id']} is {target['Arn']}, expected {name}")
                elif resources.get(name, {}).get("Type") == "AWS::SQS::Queue":
                    queue_arn = sqs.get_queue_attributes(QueueUrl=physical[name], AttributeNames=["QueueArn"])[
                        "Attributes"]["QueueArn"]
                    if target["Arn"] != queue_arn:
                        failures.append(f"{logical_id}: target {target['Id']} is {target['Arn']}, expected {name}")
        elif resource["Type"] == "AWS::SNS::Subscription":
            # moto gap: its CloudFormation skips AWS::SNS::Subscription, so the wiring is read
            # from the translated template: a lambda subscription of a topic of the stack.
            name = function_of(props["Endpoint"], physical)
            if (props.get("Protocol") != "lambda" or resources.get(name, {}).get("Type") != "AWS::Lambda::Function"
                    or resources.get(props["TopicArn"].get("Ref"), {}).get("Type") != "AWS::SNS::Topic"):
                failures.append(f"{logical_id}: not a lambda subscription of a topic of the stack by a function")
            continue
            topic = physical[props["TopicArn"]["Ref"]]
            endpoints = {arns.get(s["Endpoint"], s["Endpoint"])
                         for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]}
            name = function_of(props["Endpoint"], physical)
            if name not in endpoints:
                failures.append(f"{logical_id}: {props['TopicArn']['Ref']} is not subscribed by {name} "
                                f"(subscribers: {sorted(endpoints)})")


def main(argv):
    # moto's notes on the resource types it skips (the patches above handle those that matter).
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    path = Path(argv[1]) if len(argv) > 1 else ROOT / "template.yaml"
    _, translated = translate(path)
    with mock_aws():
        patch_for_moto(translated)
        stand_in_code()
        physical = deploy(translated)
        if physical is not None:
            check(translated, physical)
    for failure in failures:
        print(f"{path.name}: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
