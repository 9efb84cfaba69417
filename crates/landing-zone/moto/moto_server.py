"""moto_server (moto[server], pinned in requirements-dev.txt) with two fixes for the local landing zone.

1. CloudTrail's CreateTrail takes `SnsTopicName` as a topic name *or ARN*, and Control Tower's
organization trail (management account) notifies a topic in the Audit account. moto 5.2.5
reads the value only as a name in the trail's own account, so such a trail cannot be created.
This launcher makes moto's Trail accept an ARN, check that topic in its own account, and report
it back (`SnsTopicARN`, with `SnsTopicName` the topic's name, as AWS does).

2. A CloudFormation custom resource whose `ServiceToken` is an SNS topic (the member StackSet's
`AccountRegistration`, `Custom::LaceworkAccountRegistration`): moto 5.2.5 looks the token up as
a Lambda function, fails, and with it the whole stack instance. Here, as CloudFormation does,
the request (`Create` when the stack creates the resource, `Delete` when the stack is deleted)
is published to that topic, with a `ResponseURL` on this moto_server. The landing zone delivers
what the topic receives to `sns-custom-resource` and relays the answer to that URL, where it is
recorded: `SUCCESS` completes the resource (the stack becomes `CREATE_COMPLETE`), and the
`PhysicalResourceId` answered is the one the later `Delete` carries. Custom resources with a
Lambda token behave as before.

3. Stack instances' stacks are named as AWS names them, `StackSet-<stack set>-<uuid>` (moto:
`StackSet:<stack set>`, a colon no stack name may have), and `ListStackInstances` gives each
instance the `StackId` of its stack (moto: an id that resolves to no stack). So the `StackId` a
custom resource request carries has the shape CloudFormation gives it.

4. Secrets Manager's `UpdateSecretVersionStage` moving `AWSCURRENT` to another version: moto
moves the label but keeps answering `GetSecretValue` without a stage or version id with the
old version. Here the version that holds `AWSCURRENT` is the one read by default, as in AWS
(setup and auth-refresh store the token with a compare-and-swap of that label).

Everything else is moto_server unchanged; the arguments are moto_server's
(`-H 127.0.0.1 -p PORT`).
"""

import json
import os
import sys
import urllib.parse

from moto.cloudformation import cloudformation_backends
from moto.cloudformation import models as cloudformation_models
from moto.cloudformation import responses as cloudformation_responses
from moto.cloudformation.custom_model import CustomModel
from moto.cloudtrail import models as cloudtrail
from moto.moto_api._internal import mock_random
from moto.secretsmanager import models as secretsmanager_models
from moto.server import main
from moto.sns import sns_backends

Trail = cloudtrail.Trail

# Fail loudly rather than run an unpatched moto, should a moto upgrade move these.
for attribute in ("topic_arn", "check_topic_exists", "description"):
    if not hasattr(Trail, attribute):
        sys.exit(f"moto_server.py: moto's cloudtrail Trail has no {attribute}; update this launcher for the moto in requirements-dev.txt")

_description = Trail.description


def _topic_arn(self):
    name = self.sns_topic_name
    if not name:
        return None
    if name.startswith("arn:"):
        return name
    return f"arn:{self.partition}:sns:{self.region_name}:{self.account_id}:{name}"


def _check_topic_exists(self):
    arn = self.topic_arn
    if not arn:
        return
    fields = arn.split(":", 5)
    try:
        sns_backends[fields[4]][fields[3]].get_topic(arn)
    except Exception:
        raise cloudtrail.InsufficientSnsTopicPolicyException(
            "SNS Topic does not exist or the topic policy is incorrect!"
        )


def _described(self, *args, **kwargs):
    described = _description(self, *args, **kwargs)
    if described.get("SnsTopicName", "").startswith("arn:"):
        described["SnsTopicName"] = described["SnsTopicName"].split(":")[-1]
    return described


Trail.topic_arn = property(_topic_arn)
Trail.check_topic_exists = _check_topic_exists
Trail.description = _described


# ---- 2. custom resources with an SNS topic as ServiceToken ----

for owner, attribute in (
    (CustomModel, "create_from_cloudformation_json"),
    (CustomModel, "set_data"),
    (cloudformation_responses.CloudFormationResponse, "process_cfn_response"),
):
    if not hasattr(owner, attribute):
        sys.exit(f"moto_server.py: moto's {owner.__name__} has no {attribute}; update this launcher for the moto in requirements-dev.txt")

_create_with_lambda = CustomModel.create_from_cloudformation_json


def _is_sns_topic(token):
    fields = str(token).split(":")
    return len(fields) == 6 and fields[0] == "arn" and fields[2] == "sns"


def _response_url(region, stack_id):
    # This server's own address: the landing zone starts it with -p PORT (see _serve).
    port = os.environ.get("MOTO_PORT", "5000")
    stack = urllib.parse.quote(stack_id, safe="")
    return f"http://127.0.0.1:{port}/cloudformation_{region}/cfnresponse?stack={stack}"


def _publish(request):
    token = request["ServiceToken"]
    fields = token.split(":")
    topic = sns_backends[fields[4]][fields[3]].get_topic(token)
    topic.publish(json.dumps(request))


def _create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json["Properties"]
    token = properties.get("ServiceToken", "")
    if not _is_sns_topic(token):
        return _create_with_lambda(resource_name, cloudformation_json, account_id, region_name, **kwargs)
    stack_id = kwargs["StackId"]
    resource = cls(region_name, str(mock_random.uuid4()), kwargs["LogicalId"], resource_name)
    resource.sns_request = {
        "ServiceToken": token,
        "StackId": stack_id,
        "LogicalResourceId": kwargs["LogicalId"],
        "ResourceType": kwargs["ResourceType"],
        "ResourceProperties": properties,
    }
    resource.answered_physical_id = None
    cloudformation_backends[account_id][region_name].get_stack(stack_id).add_custom_resource(resource)
    _publish(dict(
        resource.sns_request,
        RequestType="Create",
        RequestId=resource.request_id,
        ResponseURL=_response_url(region_name, stack_id),
    ))
    return resource


def _delete(self, account_id, region_name):
    request = getattr(self, "sns_request", None)
    if request is None:
        # A Lambda-backed custom resource: moto's own (generic) deletion.
        raise AttributeError("delete")
    _publish(dict(
        request,
        RequestType="Delete",
        RequestId=str(mock_random.uuid4()),
        PhysicalResourceId=self.answered_physical_id or self.physical_resource_id,
        ResponseURL=_response_url(region_name, request["StackId"]),
    ))


def _process_cfn_response(self):
    # The answer comes without AWS credentials: find the stack's account in its id (moto
    # would look in its default account only), deleted stacks included.
    stack_id = self._get_param("StackId") or ""
    fields = stack_id.split(":")
    if len(fields) < 6:
        return 400, {"status": 400}, json.dumps({"message": f"StackId {stack_id!r} is not a stack ARN"})
    backend = cloudformation_backends[fields[4]][fields[3]]
    stack = backend.stacks.get(stack_id) or backend.deleted_stacks.get(stack_id)
    resource = stack.custom_resources.get(self._get_param("LogicalResourceId")) if stack else None
    if resource is None:
        return 404, {"status": 404}, json.dumps({"message": "no such custom resource"})
    physical_id = self._get_param("PhysicalResourceId")
    if physical_id:
        resource.answered_physical_id = physical_id
    if self._get_param("Status") == "SUCCESS":
        resource.set_data(self._get_param("Data") or {})
        if stack_id in backend.stacks:
            stack.verify_readiness()
    return 200, {"status": 200}, json.dumps("{}")


CustomModel.create_from_cloudformation_json = classmethod(_create)
CustomModel.delete = _delete
cloudformation_responses.CloudFormationResponse.process_cfn_response = _process_cfn_response


# ---- 3. stack instances' stacks named as AWS names them ----

_create_stack = cloudformation_models.CloudFormationBackend.create_stack
_instance_summary = cloudformation_models.StackInstance.to_dict
_MOTO_INSTANCE_STACK = "StackSet:"


def _create_stack_named_as_aws(self, name, *args, **kwargs):
    if name.startswith(_MOTO_INSTANCE_STACK):
        stack_set = name[len(_MOTO_INSTANCE_STACK):]
        name = f"StackSet-{stack_set}-{mock_random.uuid4()}"
    return _create_stack(self, name, *args, **kwargs)


def _instance_summary_with_stack_id(self):
    summary = _instance_summary(self)
    stack = getattr(self, "stack", None)
    if stack is not None:
        summary["StackId"] = stack.stack_id
    return summary


cloudformation_models.CloudFormationBackend.create_stack = _create_stack_named_as_aws
cloudformation_models.StackInstance.to_dict = _instance_summary_with_stack_id


# ---- 4. AWSCURRENT moved by UpdateSecretVersionStage is what is read by default ----

_update_secret_version_stage = secretsmanager_models.SecretsManagerBackend.update_secret_version_stage


def _update_secret_version_stage_and_default(
    self, secret_id, version_stage, remove_from_version_id, move_to_version_id
):
    answer = _update_secret_version_stage(
        self, secret_id, version_stage, remove_from_version_id, move_to_version_id
    )
    if version_stage == "AWSCURRENT" and move_to_version_id:
        self.secrets[secret_id].set_default_version_id(move_to_version_id)
    return answer


secretsmanager_models.SecretsManagerBackend.update_secret_version_stage = (
    _update_secret_version_stage_and_default
)


def _serve(args):
    if "-p" in args and args.index("-p") + 1 < len(args):
        os.environ["MOTO_PORT"] = args[args.index("-p") + 1]
    return main(args)


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1:]))
