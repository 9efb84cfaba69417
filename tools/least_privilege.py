"""Least privilege, proven: every AWS action a function's code can call is granted to its role,
and its role grants nothing else. Likewise for the cross-account roles of the StackSets,
against what Lacework needs.

How a function's calls are found (a static scan, simple on purpose):

* comments, string literals and `#[cfg(test)]` modules are blanked out first, and files that
  `#[cfg(test)] mod x;` declares are left out;
* its own crate (`crates/<binary>/src`): in each file that names an SDK crate
  (`aws_sdk_<service>`), a fluent call `.<operation>()` whose name is an operation of that
  service's SDK (the operation modules of the very SDK version Cargo.lock holds, found with
  `cargo metadata`) is a call of `<service>:<Operation>`, after the few renames IAM needs
  (`SendMessageBatch` is authorised as `sqs:SendMessage`, ...);
* the shared adapters (`lwct_aws`), function by function, so that a function is charged
  only with the adapter methods it can reach, not with every method of a module it uses: in
  the modules its crate names (followed through their own `super::`/`crate::` paths),
  a `fn` is reached when a reached body - the crate's code to begin with - calls its name
  (`name(`, `.name(`, `Type::name`), or, for a method of an `impl ForeignTrait for Type` (a
  trait not declared in `lwct_aws`, such as the Lacework client's `TokenSource`, whose
  methods are called from code this scan does not read), when a reached body names `Type`.
  Matching by name over-reaches when names are shared (a name reaches every `fn` so named),
  which can only ask for more grants, never fewer. What it cannot see is a `fn` passed as a
  bare value (`.map(helper)`) or a foreign trait's method on a type never named; as a safety
  net, every adapter `fn` that calls AWS must be reached by some function of the template.

What the Lambda service does with the role is derived from template.yaml, not from code: the
function's logs (`logs:CreateLogStream`, `logs:PutLogEvents` on its log group), the SQS event
source poller (`sqs:ReceiveMessage`, `DeleteMessage`, `GetQueueAttributes` on that queue) and
an asynchronous invocation's failure destination (`sqs:SendMessage` on it); each must be
granted on exactly that resource.

Then, per role: a called action that no statement grants is an error; a granted action nothing
calls is an error ("granted but unused"), or a warning for a function whose code is not
written yet (STUB_FUNCTIONS). Wildcard actions, NotAction/NotResource, and `Resource: "*"` for
an action that supports resource-level permissions are errors.

Run as `make least-privilege` (or `python3 tools/least_privilege.py`); its own unit tests are
tools/least_privilege_test.py. Exit code 0 when every check passes, 1 otherwise.
"""

import fnmatch
import functools
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE_AWS = ROOT / "crates" / "aws" / "src"
# The other shared crates the functions link: none of them may call AWS.
SHARED_CRATES = ("domain", "lacework", "runtime")

# Functions whose code is not written yet, and the issue that writes it: binary -> issue. Their
# roles grant what that issue will need (see the comments on the roles in template.yaml); until
# then the unused grants are warnings. A function leaves this list the day its code lands.
# Every function of the template is written today.
STUB_FUNCTIONS = {}
# Adapter fns that only the operator's `lwct status` calls, with the operator's own credentials
# rather than a role of the template: `fn` name -> why. Their actions are listed in the report
# (the read-only policy an operator needs), not charged to any role.
OPERATOR_FNS = {
    "peek_dead_letters": "lwct status reads each dead-letter queue without deleting anything",
}
# What a stub's sources say, so that an implemented function cannot stay on the list unnoticed.
STUB_MARKER = "is not implemented yet"

# SDK crate suffix -> IAM service prefix, where they differ or matter.
IAM_PREFIX = {
    "cloudformation": "cloudformation",
    "cloudtrail": "cloudtrail",
    "cloudwatch": "cloudwatch",
    "cloudwatchlogs": "logs",
    "eventbridge": "events",
    "iam": "iam",
    "kms": "kms",
    "lambda": "lambda",
    "organizations": "organizations",
    "s3": "s3",
    "secretsmanager": "secretsmanager",
    "sns": "sns",
    "sqs": "sqs",
    "sts": "sts",
}

# API operations IAM authorises under another action's name, or not at all (None). From the
# Service Authorization Reference of each service.
IAM_RENAMES = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:HeadObject": "s3:GetObject",
    "s3:GetBucketNotificationConfiguration": "s3:GetBucketNotification",
    "s3:PutBucketNotificationConfiguration": "s3:PutBucketNotification",
    "lambda:Invoke": "lambda:InvokeFunction",
    # Anyone may ask who they are; IAM has no permission for it.
    "sts:GetCallerIdentity": None,
}

# Actions that support no resource-level permissions (Service Authorization Reference: no
# resource type), so `Resource: "*"` is the only way to grant them.
RESOURCE_STAR_ONLY = {
    "cloudformation:CreateStackSet",
    "cloudformation:ListStackSets",
    "cloudtrail:DescribeTrails",
    "cloudtrail:ListTrails",
    "organizations:DescribeOrganization",
    "organizations:ListAccounts",
    "organizations:ListRoots",
    "s3:ListAllMyBuckets",
    "sns:ListTopics",
    "sqs:ListQueues",
    # The member role's reads without resource-level permissions (stacksets/README.md).
    "backup:ListBackupPlans",
    "sagemaker:GetLineageGroupPolicy",
    "sns:ListPlatformApplications",
    "sns:GetSubscriptionAttributes",
}

# Actions allowed only on one resource, whatever the code: the role name at the end of the
# rendered ARN.
RESOURCE_RULES = {
    "sts:AssumeRole": r":role/AWSControlTowerExecution$",
    "iam:PassRole": r":role/service-role/AWSControlTowerStackSetRole$",
}

# Actions IAM checks because of what a request carries, not which operation it is: a setter
# of that SDK service (`.setter(value)`) -> the action it implies, and why.
IMPLIED_BY_SETTER = {
    ("cloudformation", "administration_role_arn"): (
        "iam:PassRole", "CreateStackSet/UpdateStackSet hand CloudFormation the administration role"),
}

# Calls a function makes with credentials it got from sts:AssumeRole (AWSControlTowerExecution
# in another account of the organization), keyed by function, then SDK service: they are
# authorised by that role, not the function's. The function's role needs sts:AssumeRole instead.
# setup adds the trail bucket's event notification in Log Archive for a trail without an SNS
# topic (stacksets/README.md), and reads the key of the notification topic there
# (lwct_aws::log_archive).
ASSUMED_ROLE_SERVICES = {
    "setup": {
        "s3": "the trail bucket's event notifications, in Log Archive",
        "sns": "the S3 notification topic's KMS key, in Log Archive",
    },
}

# What Lacework needs in the Log Archive cross-account role (stacksets/log-archive.yaml), with
# the source of each need.
LOG_ARCHIVE_NEEDED = {
    # Lacework's own Control Tower module (lacework/terraform-aws-cloudtrail-controltower,
    # main.tf: ReadLogFiles, ListLogFiles, ConsumeNotifications, DecryptLogFiles) and seed 003's
    # permission table (s3:GetObject, sqs:ReceiveMessage, sqs:DeleteMessage, kms:Decrypt).
    "s3:GetObject": "download the log files a notification names",
    "s3:ListBucket": "find log files under AWSLogs/",
    "sqs:ReceiveMessage": "read notifications",
    "sqs:DeleteMessage": "remove processed notifications",
    "sqs:GetQueueAttributes": "queue depth and settings",
    "sqs:GetQueueUrl": "address the queue by name",
    "kms:Decrypt": "read SSE-KMS log files (trail key) and KMS-encrypted queue messages",
    # Lacework's module grants it in its Debug statement; needed to reach the bucket's region.
    "s3:GetBucketLocation": "the bucket's regional endpoint",
}

# The member role (stacksets/member.yaml): the SecurityAudit managed policy, plus the reads
# Lacework's own configuration policy (lacework/terraform-aws-config, main.tf,
# lacework_audit_policy) adds beyond it, less what SecurityAudit now grants and less reads of
# customer data or secrets (stacksets/README.md explains each).
MEMBER_MANAGED_POLICY = "SecurityAudit"
MEMBER_NEEDED = {
    "elasticmapreduce:ListBootstrapActions", "elasticmapreduce:ListInstanceFleets",
    "elasticmapreduce:ListInstanceGroups",
    "sagemaker:GetModelPackageGroupPolicy", "sagemaker:GetLineageGroupPolicy",
    "elasticfilesystem:ListTagsForResource",
    "glacier:ListTagsForVault",
    "sns:GetSubscriptionAttributes", "sns:GetDataProtectionPolicy", "sns:ListPlatformApplications",
    "states:ListTagsForResource",
    "backup:ListBackupPlans", "backup:GetBackupPlan", "backup:ListBackupSelections",
    "backup:GetBackupSelection", "backup:DescribeBackupVault",
    "backup:ListRecoveryPointsByBackupVault",
    "cognito-idp:GetUserPoolMfaConfig",
    "identitystore:DescribeUser", "identitystore:DescribeGroup",
    "identitystore:DescribeGroupMembership",
    "sso:GetInlinePolicyForPermissionSet", "sso:GetPermissionsBoundaryForPermissionSet",
    "sso:DescribeInstanceAccessControlAttributeConfiguration",
    "apigateway:GET",
}
# In Lacework's policy but deliberately not granted: they read customer data or secrets.
MEMBER_REFUSED = {
    "codebuild:BatchGetBuilds": "build environment variables",
    "glacier:GetJobOutput": "archive contents",
    "ses:GetContact": "e-mail contacts",
    "ses:ListContacts": "e-mail contacts",
}
# API Gateway paths that return API key values.
MEMBER_REFUSED_APIGATEWAY = ("/apikeys", "/keys")

# The Audit queue's consumer (stacksets/audit.yaml): exactly what the Log Archive role uses.
AUDIT_CONSUMER_ACTIONS = {
    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
}


# ----------------------------------------------------------------------------------------------
# Rust sources
# ----------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def strip_rust(text):
    """The text with comments, string and char literals replaced by spaces (newlines kept), and
    `#[cfg(test)]` modules removed, so that only code remains."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(_blank(text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 300]) and not _ident_char(text, i - 1):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            close = '"' + hashes
            end = text.find(close, i + 2 + len(hashes))
            end = n if end < 0 else end + len(close)
            out.append(_blank(text[i:end]))
            i = end
        elif c == '"' or (c == "b" and text.startswith('b"', i) and not _ident_char(text, i - 1)):
            j = i + (2 if c == "b" else 1)
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(_blank(text[i:j + 1]))
            i = j + 1
        elif c == "'":
            literal = re.match(r"'(?:\\(?:u\{[0-9A-Fa-f]+\}|x[0-9A-Fa-f]{2}|.)|[^\\'])'", text[i:])
            if literal:
                out.append(" " * len(literal.group(0)))
                i += len(literal.group(0))
            else:  # a lifetime
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return _remove_test_modules("".join(out))


def _ident_char(text, index):
    return index >= 0 and (text[index].isalnum() or text[index] == "_")


def _blank(fragment):
    return re.sub(r"[^\n]", " ", fragment)


def _remove_test_modules(code):
    while True:
        found = re.search(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", code)
        if not found:
            return code
        j = _block_end(code, found.end())
        code = code[:found.start()] + _blank(code[found.start():j]) + code[j:]


def sdk_services(code):
    """The SDK services a file names (`aws_sdk_sqs` -> `sqs`)."""
    return set(re.findall(r"\baws_sdk_([a-z0-9]+)\b", code))


def scan_calls(code, operations, services=None):
    """The `(service, operation)` pairs called in `code` (already stripped): fluent calls
    `.op()` with no arguments whose name is an operation of an SDK service the code names (or
    of `services`, those its file names, for a part of a file). `operations` maps a service to
    the set of its operations' snake_case names. An operation name that two of the services
    share is returned for both."""
    services = sdk_services(code) if services is None else services
    calls = set()
    for name in re.findall(r"\.\s*([a-z][a-z0-9_]*)\s*\(\s*\)", code):
        for service in services:
            if name in operations.get(service, ()):
                calls.add((service, name))
    return calls


def scan_implied(code, services=None):
    """The implied actions (IMPLIED_BY_SETTER) of `code` (already stripped): action -> why."""
    services = sdk_services(code) if services is None else services
    implied = {}
    for (service, setter), (action, why) in IMPLIED_BY_SETTER.items():
        if service in services and re.search(rf"\.\s*{setter}\s*\(\s*[^)\s]", code):
            implied[action] = why
    return implied


def pascal(snake):
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def iam_action(service, operation):
    """The IAM action that authorises an SDK operation, or None when none is needed."""
    action = f"{IAM_PREFIX.get(service, service)}:{pascal(operation)}"
    return IAM_RENAMES.get(action, action)


def core_aws_modules():
    modules = {p.stem for p in CORE_AWS.glob("*.rs") if p.stem != "lib"}
    modules |= {p.name for p in CORE_AWS.iterdir() if p.is_dir()}
    return modules


def modules_named(code, known, prefix):
    """Names of `known` modules that `code` reaches through `prefix::` paths, `use` groups
    included (`prefix::{a, b::C}`) and globs (`prefix::*`)."""
    names = set()
    for found in re.finditer(re.escape(prefix) + r"::\s*(\*|\w+|\{)", code):
        token = found.group(1)
        if token == "*":
            return set(known)
        if token == "{":
            j = _block_end(code, found.end())
            group = code[found.end():j - 1]
            names |= {m for m in re.findall(r"(?:^|[,{])\s*(\w+)", group)}
        else:
            names.add(token)
    return names & set(known)


def module_files(module):
    single = CORE_AWS / f"{module}.rs"
    if single.exists():
        return [single]
    return sorted((CORE_AWS / module).rglob("*.rs"))


def test_only_files(paths):
    """Files that `#[cfg(test)] mod name;` declares (`name.rs` or `name/`, beside the file that
    declares it, or under its own directory for a `mod.rs`/`main.rs`/`lib.rs`)."""
    excluded = set()
    for path in paths:
        code = strip_rust(path.read_text())
        for name in re.findall(r"#\s*\[\s*cfg\s*\(\s*test\s*\)\s*\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", code):
            base = path.parent if path.stem in ("mod", "main", "lib") else path.parent / path.stem
            excluded.add(base / f"{name}.rs")
            excluded |= set((base / name).rglob("*.rs"))
    return excluded


def _outside_inline_modules(code):
    """`code` with the bodies of inline modules (`mod x { ... }`) blanked: there `super::`
    names the module around them, not `lwct_aws`."""
    while True:
        found = re.search(r"\bmod\s+\w+\s*\{", code)
        if not found:
            return code
        end = _block_end(code, found.end())
        code = code[:found.start()] + _blank(code[found.start():end]) + code[end:]


def _block_end(code, start):
    """The index just after the `}` that closes the block whose `{` ends just before `start`."""
    depth, j = 1, start
    while j < len(code) and depth:
        depth += {"{": 1, "}": -1}.get(code[j], 0)
        j += 1
    return j


def function_sources(crate_dir):
    """The function's own sources (test-only files left out), and the core `aws` modules they
    use (transitively)."""
    own = sorted((crate_dir / "src").rglob("*.rs"))
    own = [p for p in own if p not in test_only_files(own)]
    known = core_aws_modules()
    wanted = set()
    for path in own:
        code = strip_rust(path.read_text())
        wanted |= modules_named(code, known, "lwct_aws")
        if re.search(r"\buse\s+lwct_aws\s*;", code):
            wanted |= modules_named(code, known, "aws")
    done = set()
    while wanted - done:
        module = sorted(wanted - done)[0]
        done.add(module)
        for path in module_files(module):
            code = _outside_inline_modules(strip_rust(path.read_text()))
            wanted |= modules_named(code, known, "super")
            wanted |= modules_named(code, known, "crate")
    return own, sorted(done)


# ----------------------------------------------------------------------------------------------
# The functions of lwct_aws, and which of them a function reaches
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CoreFn:
    """One `fn` of `lwct_aws` (outside tests)."""
    name: str
    where: str  # path:line
    module: str
    # For a method of `impl ForeignTrait for Type`: `Type`, whose naming reaches it.
    owner: str
    calls: frozenset  # names its body calls
    types: frozenset  # capitalised names its body mentions
    services: frozenset  # the SDK services its file names
    sdk_calls: frozenset  # (service, operation)
    implied: tuple  # ((action, why), ...)


# A name called: `name(`, `name::<T>(`, or a path `Type::name` (a function passed by name).
CALLED = re.compile(r"\b([a-z_][a-z0-9_]*)\s*(?:::\s*<[^;{}()]*>\s*)?\(|::\s*([a-z_][a-z0-9_]*)\b")
TYPE_NAMED = re.compile(r"\b([A-Z][A-Za-z0-9_]*)\b")


def names_called(code):
    return {a or b for a, b in CALLED.findall(code)}


def declared_traits():
    """The traits `lwct_aws` declares (its ports): their methods are called by name."""
    return {name for path in CORE_AWS.rglob("*.rs")
            for name in re.findall(r"\btrait\s+(\w+)", strip_rust(path.read_text()))}


def impl_blocks(code):
    """(start, end, trait or None, type) of each `impl` block of `code` (already stripped)."""
    blocks = []
    for found in re.finditer(r"\bimpl\b", code):
        before = re.sub(r"\bunsafe\s*$", "", code[:found.start()].rstrip()).rstrip()
        # An item starts after `}`, `;`, `{`, an attribute, or the start of the file; `impl`
        # anywhere else is a type (`-> impl Future`, `x: impl Fn()`).
        if before and before[-1] not in "};{]":
            continue
        header_end = _body_start(code, found.end())
        if header_end is None:
            continue
        header = code[found.end():header_end].strip()
        if header.startswith("<"):
            depth, k = 0, 0
            for k, c in enumerate(header):
                depth += {"<": 1, ">": -1}.get(c, 0)
                if depth == 0:
                    break
            header = header[k + 1:]
        header = re.split(r"\bwhere\b", header)[0]
        trait, target = re.split(r"\s+for\s+", header, maxsplit=1) if re.search(r"\s+for\s+", header) else ("", header)
        blocks.append((found.start(), _block_end(code, header_end + 1), _type_name(trait) or None,
                       _type_name(target.replace("&", " ").replace("dyn ", " "))))
    return blocks


def _type_name(path):
    """The last segment of a type path, generics left out: `fmt::Debug` -> `Debug`,
    `Arc<P>` -> `Arc`; empty for none."""
    names = re.findall(r"\w+", re.sub(r"<.*", "", path))
    return names[-1] if names else ""


def _body_start(code, start):
    """The index of the `{` that opens the body of the item whose header goes on from
    `start`, or None when a `;` ends the item first (a declaration without a body)."""
    depth = 0
    for index in range(start, len(code)):
        c = code[index]
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(c, 0)
        if depth == 0 and c in "{;":
            return index if c == "{" else None
    return None


def core_functions(modules, operations, ports=None):
    """Every `fn` with a body in the files of `modules` (and `lib.rs`), as CoreFn."""
    ports = declared_traits() if ports is None else ports
    paths = [(CORE_AWS / "lib.rs", "lib")] + [(p, m) for m in sorted(modules) for p in module_files(m)]
    return [function
            for path, module in paths
            for function in functions_in(strip_rust(path.read_text()), path.relative_to(ROOT).as_posix(),
                                         module, operations, ports)]


def functions_in(code, label, module, operations, ports):
    """The `fn`s with a body of one file's `code` (already stripped), as CoreFn; `ports` are
    the traits whose methods are reached by name."""
    found = []
    services = frozenset(sdk_services(code))
    blocks = impl_blocks(code)
    for match in re.finditer(r"\bfn\s+(\w+)", code):
        j = _body_start(code, match.end())
        if j is None:
            continue
        body = code[j:_block_end(code, j + 1)]
        inside = [b for b in blocks if b[0] < match.start() < b[1]]
        trait, target = (inside[-1][2], inside[-1][3]) if inside else (None, "")
        found.append(CoreFn(
            name=match.group(1),
            where=f"{label}:{code.count(chr(10), 0, match.start()) + 1}",
            module=module,
            owner=target if trait and trait not in ports else "",
            calls=frozenset(names_called(body)),
            types=frozenset(TYPE_NAMED.findall(body)),
            services=services,
            sdk_calls=frozenset(scan_calls(body, operations, services)),
            implied=tuple(sorted(scan_implied(body, services).items())),
        ))
    return found


def reached_functions(crate_code, functions):
    """The CoreFns that `crate_code` (the crate's stripped sources, joined) reaches."""
    called, named = names_called(crate_code), set(TYPE_NAMED.findall(crate_code))
    reached = []
    pending = list(functions)
    progress = True
    while progress:
        progress = False
        for function in list(pending):
            if function.name in called or (function.owner and function.owner in named):
                reached.append(function)
                pending.remove(function)
                called |= function.calls
                named |= function.types
                progress = True
    return reached


def sdk_operations():
    """Every SDK service of Cargo.lock -> the snake_case names of its operations, from the
    crate's own `src/operation/` modules."""
    metadata = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        cwd=ROOT, check=True, capture_output=True, text=True).stdout)
    operations = {}
    for package in metadata["packages"]:
        name = package["name"]
        if not name.startswith("aws-sdk-"):
            continue
        operation_dir = Path(package["manifest_path"]).parent / "src" / "operation"
        if operation_dir.is_dir():
            service = name.removeprefix("aws-sdk-").replace("-", "")
            operations[service] = {p.name for p in operation_dir.iterdir() if p.is_dir()}
    return operations


# ----------------------------------------------------------------------------------------------
# The template
# ----------------------------------------------------------------------------------------------

def load_template(path):
    from cfnlint.decode import decode  # noqa: PLC0415 (the venv's cfn-lint parses the intrinsics)

    template, matches = decode(str(path))
    if matches:
        raise SystemExit(f"{path}: cannot parse: {matches[0]}")
    return _plain(template)


def _plain(value):
    """cfn-lint's decoded template (its own dict/str subclasses) as plain Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def as_list(value):
    return value if isinstance(value, list) else [value]


def render(value):
    """An intrinsic as readable text: `!Sub 'a${B}'` -> `a${B}`, `!GetAtt X.Arn` -> `${X.Arn}`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Fn::Sub":
            return arg if isinstance(arg, str) else arg[0]
        if key == "Fn::GetAtt":
            return "${" + (arg if isinstance(arg, str) else ".".join(arg)) + "}"
        if key == "Ref":
            return "${" + arg + "}"
    return json.dumps(value, sort_keys=True)


def ref_target(value):
    """The logical id a `Ref` or `GetAtt` names, else None."""
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            return arg
        if key == "Fn::GetAtt":
            return (arg.split(".")[0] if isinstance(arg, str) else arg[0])
    return None


@dataclass
class Grant:
    action: str
    resources: list  # rendered
    sid: str


@dataclass
class Report:
    name: str
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)


def role_statements(template, role_id):
    """Every Allow statement of the role: its inline policies and any AWS::IAM::Policy or
    ManagedPolicy of the template attached to it."""
    resources = template["Resources"]
    role = resources[role_id]["Properties"]
    documents = [p["PolicyDocument"] for p in role.get("Policies", [])]
    for resource in resources.values():
        if resource.get("Type") in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            attached = [ref_target(r) for r in resource["Properties"].get("Roles", [])]
            if role_id in attached:
                documents.append(resource["Properties"]["PolicyDocument"])
    return [s for d in documents for s in statements_of(d)]


def statements_of(document):
    """A policy document's statements, both branches of a `Fn::If` included (a conditional
    statement may be granted), `AWS::NoValue` left out."""
    found = []
    for statement in as_list(document["Statement"]):
        if isinstance(statement, dict) and "Fn::If" in statement:
            branches = statement["Fn::If"][1:]
            found += [b for b in branches if isinstance(b, dict) and b.get("Ref") != "AWS::NoValue"]
        else:
            found.append(statement)
    return found


def grants_of(statements, report):
    """The granted actions, one Grant per (statement, action); shape errors reported."""
    grants = []
    for index, statement in enumerate(statements):
        sid = statement.get("Sid", f"Statement[{index}]")
        if statement.get("Effect") != "Allow":
            continue
        for forbidden in ("NotAction", "NotResource", "NotPrincipal"):
            if forbidden in statement:
                report.errors.append(f"{sid}: {forbidden} grants everything but a list; name what is granted")
        resources = [render(r) for r in as_list(statement.get("Resource", []))]
        for action in as_list(statement.get("Action", [])):
            if "*" in action or "?" in action:
                report.errors.append(f"{sid}: wildcard action {action} grants more than the code calls")
            if "*" in resources and action not in RESOURCE_STAR_ONLY:
                report.errors.append(
                    f"{sid}: {action} on every resource (\"*\"), but it supports resource-level "
                    "permissions: name the resources")
            rule = RESOURCE_RULES.get(action)
            if rule and not all(re.search(rule, r) for r in resources):
                report.errors.append(f"{sid}: {action} on {resources}; only {rule.strip('$:')} is allowed")
            grants.append(Grant(action, resources, sid))
    return grants


def is_granted(action, grants):
    return any(fnmatch.fnmatchcase(action.lower(), g.action.lower()) for g in grants)


def platform_needs(template, function_id):
    """What the Lambda service does with the function's role, from the template: action ->
    the resources (rendered) it must be granted on, with why."""
    resources = template["Resources"]
    needs = []
    props = resources[function_id]["Properties"]
    log_group = ref_target(props.get("LoggingConfig", {}).get("LogGroup"))
    if log_group:
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            needs.append((action, "${" + log_group + ".Arn}", "the function's logs"))
    for resource in resources.values():
        kind, rprops = resource.get("Type"), resource.get("Properties", {})
        if ref_target(rprops.get("FunctionName")) != function_id:
            continue
        if kind == "AWS::Lambda::EventSourceMapping":
            source = ref_target(rprops.get("EventSourceArn"))
            if source and resources.get(source, {}).get("Type") == "AWS::SQS::Queue":
                for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
                    needs.append((action, "${" + source + ".Arn}", f"the {source} event source"))
        if kind == "AWS::Lambda::EventInvokeConfig":
            for outcome in ("OnFailure", "OnSuccess"):
                target = ref_target(rprops.get("DestinationConfig", {}).get(outcome, {}).get("Destination"))
                if target and resources[target]["Type"] == "AWS::SQS::Queue":
                    needs.append(("sqs:SendMessage", "${" + target + ".Arn}", f"the {outcome} destination"))
    return needs


def check_function(name, role_id, grants, called, platform, assumed_services, stub, report):
    """Compares what the code calls (`called`: action -> where), what Lambda does
    (`platform`), and what the role grants."""
    for action, where in sorted(called.items()):
        if not is_granted(action, grants):
            report.errors.append(f"{action} is called ({where}) but {role_id} does not grant it")
    for action, resource, why in platform:
        on_resource = [g for g in grants if g.action == action and resource in g.resources]
        if not on_resource:
            report.errors.append(f"{action} on {resource} is needed for {why} but {role_id} does not grant it there")
    if assumed_services and "sts:AssumeRole" not in {g.action for g in grants}:
        report.errors.append(
            f"calls {sorted(assumed_services)} with AWSControlTowerExecution credentials, "
            f"but {role_id} does not grant sts:AssumeRole")
    used = set(called) | {action for action, _, _ in platform}
    if assumed_services:
        used.add("sts:AssumeRole")
    unused = sorted({g.action for g in grants} - used)
    for action in unused:
        sid = next(g.sid for g in grants if g.action == action)
        message = f"{action} ({sid}) is granted but no code of {name} calls it"
        if stub:
            report.warnings.append(message)
        else:
            report.errors.append(message)


def functions_of(template):
    """(binary, function logical id, role logical id) for each function of the template."""
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        binary = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
        role = ref_target(resource["Properties"].get("Role"))
        found.append((binary, logical_id, role))
    return sorted(found)


def crate_of(binary):
    """The crate directory that builds `binary` (its package name, or a [[bin]] name)."""
    for manifest in sorted((ROOT / "crates").glob("*/Cargo.toml")):
        # Only `[package]` and `[[bin]]` names build binaries (a `[[bench]]` may share one).
        for section in re.split(r"^(?=\[)", manifest.read_text(), flags=re.M):
            if not section.startswith(("[package]", "[[bin]]")):
                continue
            if re.search(rf'^name\s*=\s*"{re.escape(binary)}"', section, re.M):
                return manifest.parent
    return None


def check_functions(template, operations):
    reports = []
    ports = declared_traits()
    every_module = core_functions(core_aws_modules(), operations, ports)
    reached_by_any = set()
    for binary, function_id, role_id in functions_of(template):
        report = Report(f"{binary} ({function_id}, role {role_id})")
        reports.append(report)
        crate = crate_of(binary) if binary else None
        if crate is None or role_id is None:
            report.errors.append(f"{function_id}: no crate builds binary {binary!r}, or no Role")
            continue
        own, modules = function_sources(crate)
        stub = binary in STUB_FUNCTIONS
        if stub and not any(STUB_MARKER in f.read_text() for f in (crate / "src").rglob("*.rs")):
            report.errors.append(
                f"{binary} is in STUB_FUNCTIONS ({STUB_FUNCTIONS[binary]}) but its code no longer "
                "says it is not implemented: take it off the list")
        assumed = ASSUMED_ROLE_SERVICES.get(binary, {})
        called = {}
        assumed_used = set()

        def record(sdk_calls, implied, services, where):
            assumed_used.update(services & set(assumed))
            for service, operation in sorted(sdk_calls):
                action = iam_action(service, operation)
                if action and service not in assumed:
                    called.setdefault(action, where)
            for action, why in implied:
                called.setdefault(action, f"{where}: {why}")

        crate_code = []
        for path in own:
            code = strip_rust(path.read_text())
            crate_code.append(code)
            record(scan_calls(code, operations), scan_implied(code).items(), sdk_services(code),
                   path.relative_to(ROOT).as_posix())
        in_modules = [f for f in every_module if f.module in modules or f.module == "lib"]
        reached = reached_functions("\n".join(crate_code), in_modules)
        reached_by_any |= {f.where for f in reached}
        for function in reached:
            record(function.sdk_calls, function.implied,
                   function.services if function.sdk_calls else set(), f"{function.where} {function.name}")
        grants = grants_of(role_statements(template, role_id), report)
        platform = platform_needs(template, function_id)
        check_function(binary, role_id, grants, called, platform, assumed_used, stub, report)
        report.notes.append(
            f"code calls {len(called)} actions (crate + {len(reached)} fns of "
            f"lwct_aws::{{{', '.join(modules)}}})"
            f"{'; assumed-role calls: ' + ', '.join(sorted(assumed_used)) if assumed_used else ''}; "
            f"Lambda needs {len({a for a, _, _ in platform})}; role grants {len({g.action for g in grants})}"
            + (f"; stub until {STUB_FUNCTIONS[binary]}" if stub else ""))
    reports.append(check_core(every_module, reached_by_any))
    return reports


def check_core(functions, reached):
    """Every fn of lwct_aws that calls AWS is reached by some function (else the scan
    missed a path, or it is dead code), and no other module of lwct-domain uses the SDK."""
    report = Report("lwct_aws")
    calling = [f for f in functions if f.sdk_calls or f.implied]
    for function in calling:
        if function.where not in reached and function.name in OPERATOR_FNS:
            actions = sorted({iam_action(*c) or c[1] for c in function.sdk_calls})
            report.notes.append(f"{function.where} {function.name}: operator only "
                                f"({OPERATOR_FNS[function.name]}): {', '.join(actions)}")
        elif function.where not in reached:
            actions = sorted({iam_action(*c) or c[1] for c in function.sdk_calls} | {a for a, _ in function.implied})
            report.errors.append(
                f"{function.where} {function.name} calls {', '.join(actions)}, but no function of "
                "the template reaches it: dead code, or a path this scan does not follow")
    for path in sorted(p for name in SHARED_CRATES for p in (ROOT / "crates" / name / "src").rglob("*.rs")):
        if sdk_services(strip_rust(path.read_text())):
            report.errors.append(
                f"{path.relative_to(ROOT)} uses the AWS SDK outside lwct_aws, where "
                "this check does not look")
    if not report.errors:
        report.notes.append(f"each of its {len(calling)} fns that call AWS is reached by a function")
    return report


# ----------------------------------------------------------------------------------------------
# The StackSet roles
# ----------------------------------------------------------------------------------------------

def stackset_role(template, logical_id, report):
    role = template["Resources"][logical_id]["Properties"]
    trust = as_list(role["AssumeRolePolicyDocument"]["Statement"])
    for statement in trust:
        if statement.get("Effect") == "Allow" and "sts:ExternalId" not in json.dumps(statement.get("Condition", {})):
            report.errors.append(f"{logical_id}: a trust statement without an sts:ExternalId condition")
    return grants_of([s for p in role.get("Policies", []) for s in statements_of(p["PolicyDocument"])], report)


def check_log_archive(template):
    report = Report("stacksets/log-archive.yaml CrossAccountRole")
    grants = stackset_role(template, "CrossAccountRole", report)
    granted = {g.action for g in grants}
    for action, why in sorted(LOG_ARCHIVE_NEEDED.items()):
        if action not in granted:
            report.errors.append(f"Lacework needs {action} ({why}) but the role does not grant it")
    for action in sorted(granted - set(LOG_ARCHIVE_NEEDED)):
        report.errors.append(f"{action} is granted but Lacework does not need it")
    report.notes.append(f"grants {len(granted)} actions, all of the {len(LOG_ARCHIVE_NEEDED)} Lacework needs"
                        if not report.errors else "")
    return report


def check_member(template):
    report = Report("stacksets/member.yaml CrossAccountRole")
    role = template["Resources"]["CrossAccountRole"]["Properties"]
    managed = [render(p) for p in role.get("ManagedPolicyArns", [])]
    if not any(p.endswith(f":policy/{MEMBER_MANAGED_POLICY}") for p in managed):
        report.errors.append(f"the {MEMBER_MANAGED_POLICY} managed policy is not attached")
    grants = stackset_role(template, "CrossAccountRole", report)
    granted = {g.action for g in grants}
    for action in sorted(MEMBER_NEEDED - granted):
        report.errors.append(f"Lacework needs {action} beyond {MEMBER_MANAGED_POLICY} but the role does not grant it")
    for action in sorted(granted - MEMBER_NEEDED):
        why = MEMBER_REFUSED.get(action)
        report.errors.append(f"{action} is granted but " + (f"it reads {why}" if why else "is not in the needed list"))
    for grant in grants:
        if grant.action == "apigateway:GET":
            for resource in grant.resources:
                if any(resource.rstrip("*/").endswith(p) or f"{p}/" in resource for p in MEMBER_REFUSED_APIGATEWAY):
                    report.errors.append(f"apigateway:GET on {resource} returns API key values")
    if not report.errors:
        report.notes.append(f"{MEMBER_MANAGED_POLICY} plus {len(granted)} reads, all Lacework needs beyond it")
    return report


def check_audit(template):
    report = Report("stacksets/audit.yaml queue policy")
    policy = next(r for r in template["Resources"].values() if r["Type"] == "AWS::SQS::QueuePolicy")
    for statement in as_list(policy["Properties"]["PolicyDocument"]["Statement"]):
        actions = set(as_list(statement["Action"]))
        principal = statement.get("Principal", {})
        if principal.get("Service") == "sns.amazonaws.com":
            if actions != {"sqs:SendMessage"} or "aws:SourceArn" not in json.dumps(statement.get("Condition", {})):
                report.errors.append("SNS may do more than send, or not only for the trail's topic")
        elif actions != AUDIT_CONSUMER_ACTIONS:
            report.errors.append(f"the consumer is granted {sorted(actions)}, not {sorted(AUDIT_CONSUMER_ACTIONS)}")
    if not report.errors:
        report.notes.append("SNS sends for the trail topic only; the Log Archive role consumes, nothing more")
    return report


def main():
    template = load_template(ROOT / "template.yaml")
    operations = sdk_operations()
    reports = check_functions(template, operations)
    reports.append(check_log_archive(load_template(ROOT / "stacksets" / "log-archive.yaml")))
    reports.append(check_member(load_template(ROOT / "stacksets" / "member.yaml")))
    reports.append(check_audit(load_template(ROOT / "stacksets" / "audit.yaml")))
    failed = False
    for report in reports:
        print(f"{report.name}: {'FAILED' if report.errors else 'ok'}")
        for note in filter(None, report.notes):
            print(f"  {note}")
        for error in report.errors:
            print(f"  error: {error}")
        for warning in report.warnings:
            print(f"  warning: {warning}")
        failed |= bool(report.errors)
    errors = sum(len(r.errors) for r in reports)
    warnings = sum(len(r.warnings) for r in reports)
    print(f"least-privilege: {len(reports)} roles checked, {errors} errors, {warnings} warnings")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
