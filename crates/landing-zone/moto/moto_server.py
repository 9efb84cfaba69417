"""moto_server (moto[server], pinned in requirements-dev.txt) with one fix for the local landing zone.

CloudTrail's CreateTrail takes `SnsTopicName` as a topic name *or ARN*, and Control Tower's
organization trail (management account) notifies a topic in the Audit account. moto 5.2.5
reads the value only as a name in the trail's own account, so such a trail cannot be created.
This launcher makes moto's Trail accept an ARN, check that topic in its own account, and report
it back (`SnsTopicARN`, with `SnsTopicName` the topic's name, as AWS does). Everything else is
moto_server unchanged; the arguments are moto_server's (`-H 127.0.0.1 -p PORT`).
"""

import sys

from moto.cloudtrail import models as cloudtrail
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

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
