"""Unit tests of tools/least_privilege.py: the scanner finds calls and only calls, the check
fails when a called action is not granted, and flags what is granted but unused.

Run with `python3 -m unittest tools/least_privilege_test.py` (make least-privilege does).
"""

import copy
import sys
import unittest
from unittest import mock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import least_privilege as lp  # noqa: E402

OPERATIONS = {
    "organizations": {"describe_account", "list_accounts", "list_parents"},
    "sqs": {"send_message", "send_message_batch", "get_queue_url"},
    "s3": {"list_objects_v2", "put_bucket_notification_configuration"},
    "sts": {"get_caller_identity", "assume_role"},
    "cloudformation": {"create_stack_set", "describe_stack_set"},
}


def scan(code, operations=OPERATIONS):
    return lp.scan_calls(lp.strip_rust(code), operations)


class StripRust(unittest.TestCase):
    def test_comments_strings_and_chars_are_blanked(self):
        code = '''
            // client.describe_account()
            /* client.list_accounts() /* nested */ still comment */
            let s = "client.list_parents()";
            let r = r#"quote " client.list_parents()"#;
            let c = '"'; let d = '\\''; let lifetime: &'static str = "x";
            real.call();
        '''
        stripped = lp.strip_rust(code)
        self.assertNotIn("describe_account", stripped)
        self.assertNotIn("list_accounts", stripped)
        self.assertNotIn("list_parents", stripped)
        self.assertIn("real.call();", stripped)
        self.assertIn("&'static str", stripped)
        self.assertEqual(code.count("\n"), stripped.count("\n"))

    def test_test_modules_are_removed(self):
        code = '''
            fn real() { client.list_accounts(); }
            #[cfg(test)]
            mod tests {
                fn t() { if true { client.describe_account(); } }
            }
            fn after() {}
        '''
        stripped = lp.strip_rust(code)
        self.assertIn("list_accounts", stripped)
        self.assertNotIn("describe_account", stripped)
        self.assertIn("fn after", stripped)


class ScanCalls(unittest.TestCase):
    def test_a_fluent_call_is_caught(self):
        code = '''
            use aws_sdk_organizations::Client;
            async fn f(client: &Client) {
                client
                    .describe_account()
                    .account_id("1")
                    .send()
                    .await;
            }
        '''
        self.assertEqual(scan(code), {("organizations", "describe_account")})

    def test_a_full_path_client_counts_as_naming_the_sdk(self):
        code = "struct S { c: aws_sdk_sqs::Client } fn f(s: &S) { s.c.send_message_batch(); }"
        self.assertEqual(scan(code), {("sqs", "send_message_batch")})

    def test_no_sdk_named_no_call(self):
        # A port trait's method with an operation's name is not an SDK call.
        code = "fn f(port: &impl Organizations) { port.describe_account(); }"
        self.assertEqual(scan(code), set())

    def test_setters_and_other_methods_are_not_calls(self):
        code = "use aws_sdk_sqs::Client; fn f(c: &Client) { b.send_message(x); c.send(); v.first(); }"
        self.assertEqual(scan(code), set())

    def test_calls_in_comments_strings_and_tests_are_not_calls(self):
        code = '''
            use aws_sdk_organizations::Client;
            /// Uses `client.list_accounts()`.
            fn f() { let s = "c.list_parents()"; }
            #[cfg(test)]
            mod tests { fn t(c: &Client) { c.describe_account(); } }
        '''
        self.assertEqual(scan(code), set())

    def test_an_operation_of_another_service_is_not_a_call(self):
        code = "use aws_sdk_sqs::Client; fn f(c: &Client) { c.describe_account(); }"
        self.assertEqual(scan(code), set())


class IamAction(unittest.TestCase):
    def test_plain_operations(self):
        self.assertEqual(lp.iam_action("organizations", "describe_account"), "organizations:DescribeAccount")
        self.assertEqual(lp.iam_action("sqs", "get_queue_url"), "sqs:GetQueueUrl")

    def test_renames(self):
        self.assertEqual(lp.iam_action("sqs", "send_message_batch"), "sqs:SendMessage")
        self.assertEqual(lp.iam_action("s3", "list_objects_v2"), "s3:ListBucket")
        self.assertEqual(lp.iam_action("s3", "put_bucket_notification_configuration"),
                         "s3:PutBucketNotification")
        self.assertIsNone(lp.iam_action("sts", "get_caller_identity"))

    def test_service_prefixes(self):
        self.assertEqual(lp.iam_action("cloudwatchlogs", "put_log_events"), "logs:PutLogEvents")
        self.assertEqual(lp.iam_action("eventbridge", "put_events"), "events:PutEvents")

    def test_implied_pass_role(self):
        setter = "use aws_sdk_cloudformation::Client; c.create_stack_set().administration_role_arn(arn);"
        getter = "use aws_sdk_cloudformation::Client; let a = set.administration_role_arn();"
        self.assertIn("iam:PassRole", lp.scan_implied(lp.strip_rust(setter)))
        self.assertEqual(lp.scan_implied(lp.strip_rust(getter)), {})


class TestOnlyFiles(unittest.TestCase):
    def test_files_declared_cfg_test_are_left_out(self):
        import tempfile

        with tempfile.TemporaryDirectory() as directory:
            src = Path(directory)
            (src / "main.rs").write_text("mod flow;\n#[cfg(test)]\nmod fakes;\n#[cfg(test)] mod tests;\n")
            for name in ("flow", "fakes", "tests"):
                (src / f"{name}.rs").write_text("")
            (src / "flow").mkdir()
            (src / "flow" / "inner.rs").write_text("")
            (src / "flow.rs").write_text("#[cfg(test)]\nmod inner;\n")
            files = sorted(src.rglob("*.rs"))
            self.assertEqual(lp.test_only_files(files),
                             {src / "fakes.rs", src / "tests.rs", src / "flow" / "inner.rs"})


ADAPTER = """
    use aws_sdk_organizations::Client;
    use crate::lacework::TokenSource;

    pub trait Organizations {
        fn describe(&self) -> impl Future<Output = ()> + Send;
        fn everything(&self) -> impl Future<Output = ()> + Send;
    }

    impl Organizations for OrganizationsClient {
        async fn describe(&self) { self.client.describe_account().send().await; }
        async fn everything(&self) -> Result<(), Error> { self.client.list_accounts().send().await; }
    }

    pub async fn describe_all<O: Organizations>(port: &O) -> impl Sized { port.describe().await }

    pub struct ParentsSource;
    impl TokenSource for ParentsSource {
        fn current(&self) -> TokenFuture<'_> { self.client.list_parents() }
    }
"""


def adapter_functions():
    return lp.functions_in(lp.strip_rust(ADAPTER), "adapter.rs", "organizations", OPERATIONS,
                           {"Organizations"})


def reached_actions(crate_code):
    reached = lp.reached_functions(lp.strip_rust(crate_code), adapter_functions())
    return {lp.iam_action(*call) for f in reached for call in f.sdk_calls}


class Reach(unittest.TestCase):
    def test_impl_blocks_are_told_from_impl_types(self):
        blocks = lp.impl_blocks(lp.strip_rust(ADAPTER))
        self.assertEqual([(trait, target) for _, _, trait, target in blocks],
                         [("Organizations", "OrganizationsClient"), ("TokenSource", "ParentsSource")])

    def test_only_the_port_methods_called_are_charged(self):
        self.assertEqual(reached_actions("fn f(o: &impl Organizations) { o.describe(); }"),
                         {"organizations:DescribeAccount"})
        self.assertEqual(reached_actions("fn f(o: &impl Organizations) { o.everything(); }"),
                         {"organizations:ListAccounts"})

    def test_calls_are_followed_through_shared_functions(self):
        self.assertEqual(reached_actions("fn f(o: &Client) { describe_all(o); }"),
                         {"organizations:DescribeAccount"})

    def test_a_foreign_trait_impl_is_reached_by_naming_its_type(self):
        # The Lacework client calls `current()`; the function only builds the source.
        self.assertEqual(reached_actions("fn f() { let s = ParentsSource; }"),
                         {"organizations:ListParents"})
        self.assertEqual(reached_actions("fn f() {}"), set())

    def test_an_adapter_call_no_function_reaches_is_an_error(self):
        functions = adapter_functions()
        reached = {f.where for f in functions if f.name != "everything"}
        report = lp.check_core(functions, reached)
        self.assertTrue(any("everything calls organizations:ListAccounts" in e for e in report.errors),
                        report.errors)
        self.assertEqual(lp.check_core(functions, {f.where for f in functions}).errors, [])

    def test_an_operator_only_adapter_call_is_listed_not_charged(self):
        functions = adapter_functions()
        reached = {f.where for f in functions if f.name != "everything"}
        with mock.patch.dict(lp.OPERATOR_FNS, {"everything": "an operator reads it"}):
            report = lp.check_core(functions, reached)
        self.assertEqual(report.errors, [])
        self.assertTrue(any("everything: operator only" in n and "organizations:ListAccounts" in n
                            for n in report.notes), report.notes)

    def test_super_inside_an_inline_module_is_not_the_aws_module(self):
        code = "use super::queue::X;\npub mod in_memory { use super::*; }"
        stripped = lp._outside_inline_modules(code)
        self.assertEqual(lp.modules_named(stripped, ModulesNamed.KNOWN, "super"), {"queue"})


class ModulesNamed(unittest.TestCase):
    KNOWN = {"organizations", "queue", "secrets", "stacksets", "trail"}

    def test_paths_groups_and_globs(self):
        code = "use lwct_aws::{secrets::SecretStore, queue}; let x = lwct_aws::trail::f();"
        self.assertEqual(lp.modules_named(code, self.KNOWN, "lwct_aws"), {"secrets", "queue", "trail"})
        self.assertEqual(lp.modules_named("use lwct_aws::*;", self.KNOWN, "lwct_aws"), self.KNOWN)
        self.assertEqual(lp.modules_named("use lwct_domain::config;", self.KNOWN, "lwct_aws"), set())


def role(*statements):
    return {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {},
        "Policies": [{"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17",
                                                            "Statement": list(statements)}}]}}


def allow(sid, actions, resources):
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


QUEUE = {"Fn::GetAtt": ["Queue", "Arn"]}
LOGS = {"Fn::GetAtt": ["Logs", "Arn"]}


def template(*statements):
    return {"Resources": {
        "Role": role(*statements),
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {}},
        "Function": {"Type": "AWS::Serverless::Function", "Properties": {
            "Role": {"Fn::GetAtt": ["Role", "Arn"]}, "LoggingConfig": {"LogGroup": {"Ref": "Logs"}}}},
        "Source": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "FunctionName": {"Ref": "Function"}, "EventSourceArn": QUEUE}},
    }}


FULL = (
    allow("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], LOGS),
    allow("Poll", ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], QUEUE),
    allow("Accounts", "organizations:DescribeAccount", {"Fn::Sub": "arn:${AWS::Partition}:organizations::1:account/o-1/*"}),
)
CALLED = {"organizations:DescribeAccount": "crates/x/src/main.rs"}


def check(tmpl, called=CALLED, stub=False, assumed=frozenset()):
    report = lp.Report("x")
    grants = lp.grants_of(lp.role_statements(tmpl, "Role"), report)
    platform = lp.platform_needs(tmpl, "Function")
    lp.check_function("x", "Role", grants, called, platform, set(assumed), stub, report)
    return report


class CheckFunction(unittest.TestCase):
    def test_a_role_granting_exactly_what_is_used_passes(self):
        report = check(template(*FULL))
        self.assertEqual((report.errors, report.warnings), ([], []))

    def test_a_removed_action_fails(self):
        report = check(template(*FULL[:2]))
        self.assertTrue(any("organizations:DescribeAccount is called" in e for e in report.errors), report.errors)

    def test_a_removed_platform_action_fails(self):
        report = check(template(FULL[0], FULL[2]))
        self.assertTrue(any("sqs:ReceiveMessage on ${Queue.Arn}" in e for e in report.errors), report.errors)

    def test_a_platform_action_on_another_resource_fails(self):
        elsewhere = allow("Poll", ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                          {"Fn::GetAtt": ["Other", "Arn"]})
        report = check(template(FULL[0], elsewhere, FULL[2]))
        self.assertTrue(any("the Queue event source" in e for e in report.errors), report.errors)

    def test_granted_but_unused_is_an_error_or_for_a_stub_a_warning(self):
        extra = allow("Extra", "organizations:ListParents", {"Fn::Sub": "arn:x:organizations::1:account/o-1/*"})
        implemented = check(template(*FULL, extra))
        self.assertTrue(any("organizations:ListParents (Extra) is granted but" in e for e in implemented.errors))
        stub = check(template(*FULL, extra), stub=True)
        self.assertEqual(stub.errors, [])
        self.assertTrue(any("organizations:ListParents" in w for w in stub.warnings))

    def test_wildcards_and_star_resources_are_refused(self):
        report = check(template(*FULL, allow("Wide", "sqs:*", QUEUE), allow("Star", "sqs:SendMessage", "*")))
        self.assertTrue(any("wildcard action sqs:*" in e for e in report.errors), report.errors)
        self.assertTrue(any("sqs:SendMessage on every resource" in e for e in report.errors), report.errors)

    def test_star_is_accepted_where_no_resource_level_permission_exists(self):
        star = allow("Star", "organizations:ListAccounts", "*")
        report = check(template(*FULL, star), called={**CALLED, "organizations:ListAccounts": "x"})
        self.assertEqual(report.errors, [])

    def test_assume_role_only_on_the_control_tower_execution_role(self):
        good = allow("Assume", "sts:AssumeRole", {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/AWSControlTowerExecution"})
        bad = allow("Assume", "sts:AssumeRole", {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/*"})
        self.assertEqual(check(template(*FULL, good), assumed={"s3"}).errors, [])
        self.assertTrue(check(template(*FULL, bad), assumed={"s3"}).errors)
        self.assertTrue(any("does not grant sts:AssumeRole" in e
                            for e in check(template(*FULL), assumed={"s3"}).errors))

    def test_conditional_statements_count_as_granted(self):
        conditional = {"Fn::If": ["Cond", FULL[2], {"Ref": "AWS::NoValue"}]}
        report = check(template(FULL[0], FULL[1], conditional))
        self.assertEqual(report.errors, [])


class RepositoryTemplate(unittest.TestCase):
    """The real template against the real code: passes as it is, fails with an action removed."""

    @classmethod
    def setUpClass(cls):
        cls.template = lp.load_template(lp.ROOT / "template.yaml")
        cls.operations = lp.sdk_operations()

    def errors(self, tmpl):
        return [e for r in lp.check_functions(tmpl, self.operations) for e in r.errors]

    def test_the_template_passes(self):
        self.assertEqual(self.errors(self.template), [])

    def test_removing_a_called_action_fails(self):
        broken = copy.deepcopy(self.template)
        statements = broken["Resources"]["AuthRefreshRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        for statement in statements:
            actions = lp.as_list(statement["Action"])
            if "secretsmanager:GetSecretValue" in actions:
                statement["Action"] = [a for a in actions if a != "secretsmanager:GetSecretValue"]
        errors = self.errors(broken)
        self.assertTrue(any("secretsmanager:GetSecretValue is called" in e and "AuthRefreshRole" in e
                            for e in errors), errors)

    def statements(self, tmpl, role):
        return tmpl["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]

    def without(self, role, action):
        broken = copy.deepcopy(self.template)
        for statement in self.statements(broken, role):
            actions = lp.as_list(statement["Action"])
            statement["Action"] = [a for a in actions if a != action]
        return self.errors(broken)

    def test_the_new_account_functions_need_what_they_call(self):
        for role, action in (("AccountLifecycleRole", "sqs:ChangeMessageVisibility"),
                             ("AccountLifecycleRole", "cloudformation:UpdateStackInstances"),
                             ("AccountLifecycleRole", "organizations:DescribeOrganization"),
                             ("SnsCustomResourceRole", "sqs:ReceiveMessage"),
                             ("SnsCustomResourceRole", "organizations:ListAccountsForParent"),
                             ("SnsCustomResourceRole", "secretsmanager:UpdateSecretVersionStage")):
            errors = self.without(role, action)
            self.assertTrue(any(f"{action} is called" in e and role in e for e in errors), (role, action, errors))

    def test_a_method_of_a_used_module_that_is_not_called_is_not_needed(self):
        # account-lifecycle uses the StackSets and Organizations ports but never creates a
        # StackSet or lists every account: granting those is an error.
        broken = copy.deepcopy(self.template)
        self.statements(broken, "AccountLifecycleRole").append(
            {"Sid": "Extra", "Effect": "Allow", "Action": ["cloudformation:CreateStackSet"],
             "Resource": {"Fn::Sub": "arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stackset/x-*"}})
        self.statements(broken, "AccountLifecycleRole").append(
            {"Sid": "Extra2", "Effect": "Allow", "Action": ["organizations:ListAccounts"], "Resource": "*"})
        errors = self.errors(broken)
        for action in ("cloudformation:CreateStackSet", "organizations:ListAccounts"):
            self.assertTrue(any(f"{action} (Extra" in e and "no code of account-lifecycle" in e
                                for e in errors), (action, errors))


class CrateOf(unittest.TestCase):
    def test_a_bench_named_like_a_function_is_not_its_crate(self):
        # crates/bench has a `[[bench]] name = "setup"`; the function is crates/setup.
        self.assertEqual(lp.crate_of("setup"), lp.ROOT / "crates" / "setup")
        self.assertEqual(lp.crate_of("sns-custom-resource"), lp.ROOT / "crates" / "sns-custom-resource")
        self.assertIsNone(lp.crate_of("no-such-function"))


if __name__ == "__main__":
    unittest.main()
