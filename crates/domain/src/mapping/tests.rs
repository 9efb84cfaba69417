use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const SEED_EXAMPLE: &str = include_str!("../../../../events/mapping/seed-001-example.json");
const TWELVE_DIGITS: &str = include_str!("../../../../events/mapping/seed-001-twelve-digits.json");
const TWELVE_DIGITS_WIRE: &str =
    include_str!("../../../../events/mapping/seed-001-twelve-digits.wire.txt");
const MISSING_DEFAULT: &str = include_str!("../../../../events/mapping/missing-default.json");
const MISSING_INTEGRATION_MAPPINGS: &str =
    include_str!("../../../../events/mapping/missing-integration-mappings.json");
const MISSING_AWS_ACCOUNTS: &str =
    include_str!("../../../../events/mapping/missing-aws-accounts.json");
const WRONG_TYPES: &str = include_str!("../../../../events/mapping/wrong-types.json");
const ACCOUNT_UNDER_TWO: &str = include_str!("../../../../events/mapping/account-under-two.json");
const KEYS_EQUAL_BUT_CASE: &str =
    include_str!("../../../../events/mapping/keys-equal-but-case.json");
const EMPTY_LACEWORK_NAME: &str =
    include_str!("../../../../events/mapping/empty-lacework-name.json");
const MULTI_ACCOUNT: &str = include_str!("../../../../events/mapping/multi-account.json");

fn id(text: &str) -> AccountId {
    AccountId::parse(text).unwrap()
}

fn problems_of(text: &str) -> Vec<Problem> {
    match AccountMapping::from_json_str(text) {
        Err(Error::Mapping(problems)) => problems,
        other => panic!("expected Error::Mapping, got {other:?}"),
    }
}

fn value_problems(value: Value) -> Vec<Problem> {
    match AccountMapping::from_value(&value) {
        Err(Error::Mapping(problems)) => problems,
        other => panic!("expected Error::Mapping, got {other:?}"),
    }
}

/// The problem at `path`; fails (listing them all) if there is none.
fn at<'a>(problems: &'a [Problem], path: &str) -> &'a Problem {
    problems
        .iter()
        .find(|p| p.path == path)
        .unwrap_or_else(|| panic!("no problem at {path}; problems: {problems:#?}"))
}

fn paths(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.path.as_str()).collect()
}

// ---- fixtures ----

#[test]
fn seed_example_names_each_nine_digit_id_with_its_path() {
    let problems = problems_of(SEED_EXAMPLE);
    let expected = [
        (
            "$.integration_mappings.lw_account_2.aws_accounts[0]",
            "234556677",
        ),
        (
            "$.integration_mappings.lw_account_2.aws_accounts[1]",
            "774564564",
        ),
        (
            "$.integration_mappings.lw_account_3.aws_accounts[0]",
            "553453453",
        ),
        (
            "$.integration_mappings.lw_account_3.aws_accounts[1]",
            "934534535",
        ),
    ];
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    for (path, digits) in expected {
        let problem = at(&problems, path);
        assert!(problem.message.contains(digits), "{problem}");
        assert!(problem.message.contains("leading zeros"), "{problem}");
        assert!(
            problem.message.contains(&format!("\"000{digits}\"")),
            "{problem}"
        );
    }
}

#[test]
fn seed_example_with_twelve_digits_is_valid() {
    let mapping = AccountMapping::from_json_str(TWELVE_DIGITS).unwrap();
    assert_eq!(mapping.default_account(), "lw_account_1");
    let lacework: Vec<_> = mapping.lacework_accounts().map(|(name, _)| name).collect();
    assert_eq!(lacework, ["lw_account_2", "lw_account_3"]);
    assert_eq!(
        mapping.resolve(&id("000553453453")),
        Resolution {
            lacework_account: "lw_account_3",
            mapped: true
        }
    );
    assert_eq!(mapping.mapped_accounts().len(), 4);
}

#[test]
fn missing_default_is_reported() {
    let problems = problems_of(MISSING_DEFAULT);
    assert_eq!(paths(&problems), ["$.defaultLaceworkAccountAws"]);
    assert!(problems[0].message.contains("missing"), "{}", problems[0]);
}

#[test]
fn missing_integration_mappings_is_reported() {
    let problems = problems_of(MISSING_INTEGRATION_MAPPINGS);
    assert_eq!(paths(&problems), ["$.integration_mappings"]);
    assert!(problems[0].message.contains("missing"), "{}", problems[0]);
}

#[test]
fn missing_aws_accounts_is_reported_for_every_entry_and_the_misspelling_too() {
    let problems = problems_of(MISSING_AWS_ACCOUNTS);
    let missing_2 = at(
        &problems,
        "$.integration_mappings.lw_account_2.aws_accounts",
    );
    assert!(missing_2.message.contains("missing"), "{missing_2}");
    let missing_3 = at(
        &problems,
        "$.integration_mappings.lw_account_3.aws_accounts",
    );
    assert!(missing_3.message.contains("missing"), "{missing_3}");
    let typo = at(&problems, "$.integration_mappings.lw_account_3.aws_account");
    assert!(typo.message.contains("\"aws_accounts\""), "{typo}");
    assert_eq!(problems.len(), 3, "{problems:#?}");
}

#[test]
fn wrong_types_are_each_reported_with_what_was_found() {
    let problems = problems_of(WRONG_TYPES);
    let default = at(&problems, "$.defaultLaceworkAccountAws");
    assert!(default.message.contains("must be a string"), "{default}");
    assert!(default.message.contains("number 1"), "{default}");
    let entry = at(&problems, "$.integration_mappings.lw_account_2");
    assert!(entry.message.contains("must be an object"), "{entry}");
    assert!(entry.message.contains("found a list"), "{entry}");
    let list = at(
        &problems,
        "$.integration_mappings.lw_account_3.aws_accounts",
    );
    assert!(list.message.contains("must be a list"), "{list}");
    let nine = at(
        &problems,
        "$.integration_mappings.lw_account_4.aws_accounts[0]",
    );
    assert!(nine.message.contains("234556677"), "{nine}");
    assert!(nine.message.contains("not a number"), "{nine}");
    assert!(nine.message.contains("leading zeros"), "{nine}");
    let twelve = at(
        &problems,
        "$.integration_mappings.lw_account_4.aws_accounts[1]",
    );
    assert!(twelve.message.contains("\"111122223333\""), "{twelve}");
    let null = at(
        &problems,
        "$.integration_mappings.lw_account_4.aws_accounts[2]",
    );
    assert!(null.message.contains("found null"), "{null}");
    assert_eq!(problems.len(), 6, "{problems:#?}");
}

#[test]
fn an_account_under_two_lacework_accounts_is_reported_with_both_places() {
    let problems = problems_of(ACCOUNT_UNDER_TWO);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let problem = at(
        &problems,
        "$.integration_mappings.lw_account_3.aws_accounts[0]",
    );
    assert!(problem.message.contains("000234556677"), "{problem}");
    assert!(problem.message.contains("lw_account_2"), "{problem}");
    assert!(
        problem
            .message
            .contains("$.integration_mappings.lw_account_2.aws_accounts[0]"),
        "{problem}"
    );
}

#[test]
fn keys_equal_but_for_case_are_reported_with_both_paths() {
    let problems = problems_of(KEYS_EQUAL_BUT_CASE);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let problem = at(&problems, "$.integration_mappings.lw_account_2");
    assert!(
        problem
            .message
            .contains("$.integration_mappings.LW_Account_2"),
        "{problem}"
    );
    assert!(problem.message.contains("not case-sensitive"), "{problem}");
}

#[test]
fn empty_lacework_names_are_reported() {
    let problems = problems_of(EMPTY_LACEWORK_NAME);
    let default = at(&problems, "$.defaultLaceworkAccountAws");
    assert!(default.message.contains("empty"), "{default}");
    let key = at(&problems, "$.integration_mappings[\"\"]");
    assert!(key.message.contains("empty"), "{key}");
    assert_eq!(problems.len(), 2, "{problems:#?}");
}

#[test]
fn multi_account_file_is_valid_and_normalized_to_lower_case() {
    let mapping = AccountMapping::from_json_str(MULTI_ACCOUNT).unwrap();
    assert_eq!(mapping.default_account(), "main");
    let names: Vec<_> = mapping.lacework_accounts().map(|(name, _)| name).collect();
    assert_eq!(names, ["dev", "main", "prod", "secops"]);
    assert_eq!(
        mapping.resolve(&id("000000000042")).lacework_account,
        "secops"
    );
    assert_eq!(
        mapping.resolve(&id("111122223333")).lacework_account,
        "prod"
    );
    // Listed under the default explicitly: mapped, and to the default.
    assert_eq!(
        mapping.resolve(&id("010101010101")),
        Resolution {
            lacework_account: "main",
            mapped: true
        }
    );
    assert_eq!(
        mapping.resolve(&id("999999999999")),
        Resolution {
            lacework_account: "main",
            mapped: false
        }
    );
}

// ---- individual rules ----

#[test]
fn invalid_json_reports_line_and_column() {
    let problems = problems_of("{\n  \"defaultLaceworkAccountAws\": \"a\",\n  oops\n}");
    assert_eq!(paths(&problems), ["$"]);
    assert!(problems[0].message.contains("line 3"), "{}", problems[0]);
    assert!(problems[0].message.contains("column"), "{}", problems[0]);
}

#[test]
fn a_byte_order_mark_is_tolerated() {
    let text = format!("\u{feff}{TWELVE_DIGITS}");
    assert!(AccountMapping::from_json_str(&text).is_ok());
}

#[test]
fn a_document_that_is_not_an_object_is_one_problem() {
    for value in [json!([]), json!("x"), json!(null), json!(3)] {
        let problems = value_problems(value);
        assert_eq!(paths(&problems), ["$"]);
        assert!(problems[0].message.contains("must be a JSON object"));
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let problems = value_problems(json!({
        "integration_mappings": {
            "a": {"aws_accounts": ["1", "000000000001"]},
            "b": {"aws_accounts": ["000000000001"]},
            " ": {"aws_accounts": []}
        },
        "extra": true
    }));
    for path in [
        "$.extra",
        "$.defaultLaceworkAccountAws",
        "$.integration_mappings.a.aws_accounts[0]",
        "$.integration_mappings.b.aws_accounts[0]",
        "$.integration_mappings[\" \"]",
    ] {
        at(&problems, path);
    }
    assert_eq!(problems.len(), 5, "{problems:#?}");
}

#[test]
fn integration_mappings_must_be_an_object() {
    let problems = value_problems(json!({
        "defaultLaceworkAccountAws": "a",
        "integration_mappings": [{"aws_accounts": []}]
    }));
    assert_eq!(paths(&problems), ["$.integration_mappings"]);
    assert!(problems[0].message.contains("found a list"));
}

#[test]
fn malformed_account_ids_are_named() {
    let problems = value_problems(json!({
        "defaultLaceworkAccountAws": "a",
        "integration_mappings": {"b": {"aws_accounts": [
            "", "1234567890123", "12345678901a", 1.5, 123456789012_u64, {"id": "1"}
        ]}}
    }));
    let path = |i: usize| format!("$.integration_mappings.b.aws_accounts[{i}]");
    assert!(at(&problems, &path(0)).message.contains("empty"));
    assert!(at(&problems, &path(1)).message.contains("13 digits"));
    assert!(at(&problems, &path(2)).message.contains("\"12345678901a\""));
    assert!(at(&problems, &path(3)).message.contains("1.5"));
    assert!(
        at(&problems, &path(4))
            .message
            .contains("write it in quotes: \"123456789012\"")
    );
    assert!(at(&problems, &path(5)).message.contains("found an object"));
    assert_eq!(problems.len(), 6, "{problems:#?}");
}

#[test]
fn an_account_listed_twice_under_one_lacework_account_is_reported() {
    let problems = value_problems(json!({
        "defaultLaceworkAccountAws": "a",
        "integration_mappings": {"b": {"aws_accounts": ["000000000001", "000000000001"]}}
    }));
    let problem = at(&problems, "$.integration_mappings.b.aws_accounts[1]");
    assert!(problem.message.contains("listed twice"), "{problem}");
    assert!(
        problem
            .message
            .contains("$.integration_mappings.b.aws_accounts[0]")
    );
}

#[test]
fn a_key_repeated_in_the_text_is_reported() {
    let text = r#"{
        "defaultLaceworkAccountAws": "a",
        "integration_mappings": {
            "b": {"aws_accounts": ["000000000001"]},
            "b": {"aws_accounts": ["000000000002"]}
        }
    }"#;
    let problems = problems_of(text);
    assert_eq!(paths(&problems), ["$.integration_mappings.b"]);
    assert!(problems[0].message.contains("more than once"));
}

#[test]
fn names_with_spaces_are_refused_and_odd_keys_get_bracket_paths() {
    let problems = value_problems(json!({
        "defaultLaceworkAccountAws": "my account",
        "integration_mappings": {"x.y": {"aws_accounts": ["1"]}}
    }));
    assert!(
        at(&problems, "$.defaultLaceworkAccountAws")
            .message
            .contains("spaces")
    );
    at(&problems, "$.integration_mappings[\"x.y\"].aws_accounts[0]");
}

#[test]
fn empty_account_lists_and_empty_mappings_are_valid() {
    let mapping = AccountMapping::from_value(&json!({
        "defaultLaceworkAccountAws": "A",
        "integration_mappings": {"b": {"aws_accounts": []}}
    }))
    .unwrap();
    assert_eq!(mapping.lacework_accounts().count(), 1);
    let mapping = AccountMapping::from_value(&json!({
        "defaultLaceworkAccountAws": "A",
        "integration_mappings": {}
    }))
    .unwrap();
    assert_eq!(mapping.resolve(&id("123412341234")).lacework_account, "a");
}

// ---- resolution and editing ----

#[test]
fn resolution_ignores_case_of_names_in_the_file() {
    let mapping = AccountMapping::from_value(&json!({
        "defaultLaceworkAccountAws": "Lw_Account_1",
        "integration_mappings": {"LW_ACCOUNT_2": {"aws_accounts": ["000234556677"]}}
    }))
    .unwrap();
    assert_eq!(mapping.default_account(), "lw_account_1");
    assert_eq!(
        mapping.resolve(&id("000234556677")).lacework_account,
        "lw_account_2"
    );
    assert_eq!(
        mapping.lacework_account_of(&id("000234556677")),
        Some("lw_account_2")
    );
    assert_eq!(mapping.lacework_account_of(&id("000000000000")), None);
    let resolution = serde_json::to_value(mapping.resolve(&id("000000000000"))).unwrap();
    assert_eq!(
        resolution,
        json!({"lacework_account": "lw_account_1", "mapped": false})
    );
}

#[test]
fn assign_moves_an_account_and_unassign_drops_empty_lacework_accounts() {
    let mut mapping = AccountMapping::new("Default").unwrap();
    assert_eq!(mapping.assign(id("111111111111"), "SecOps").unwrap(), None);
    assert_eq!(
        mapping.assign(id("111111111111"), "prod").unwrap(),
        Some("secops".to_owned())
    );
    let names: Vec<_> = mapping.lacework_accounts().map(|(name, _)| name).collect();
    assert_eq!(names, ["prod"]);
    assert_eq!(
        mapping.unassign(&id("111111111111")),
        Some("prod".to_owned())
    );
    assert_eq!(mapping.lacework_accounts().count(), 0);
    assert_eq!(mapping.unassign(&id("111111111111")), None);
    assert!(mapping.assign(id("111111111111"), "").is_err());
    assert!(AccountMapping::new(" ").is_err());
    assert_eq!(
        AccountMapping::new("Other").unwrap().default_account(),
        "other"
    );
}

// ---- wire ----

#[test]
fn wire_encoding_matches_an_independently_made_fixture() {
    let mapping = AccountMapping::from_json_str(TWELVE_DIGITS).unwrap();
    assert_eq!(mapping.to_wire(), TWELVE_DIGITS_WIRE.trim_end());
    assert_eq!(
        AccountMapping::from_wire(TWELVE_DIGITS_WIRE).unwrap(),
        mapping
    );
}

#[test]
fn wire_decoding_refuses_what_is_not_a_mapping_file() {
    let wire_problem = |wire: &str| match AccountMapping::from_wire(wire) {
        Err(Error::Mapping(problems)) => problems,
        other => panic!("{wire:?}: expected Error::Mapping, got {other:?}"),
    };
    for (wire, words) in [
        ("", "empty"),
        ("data:text/plain;base64,e30=", "must start with"),
        (
            "DATA:application/json;name=i.json;base64,e30=",
            "must start with",
        ),
        ("eyJhIjoxfQ==", "must start with"),
        ("data:application/json;name=i.json;base64,", "nothing after"),
        ("data:application/json;name=i.json;base64,e30", "base64"),
        ("data:application/json;name=i.json;base64,!!!!", "base64"),
        ("data:application/json;name=i.json;base64,/w==", "UTF-8"),
    ] {
        let problems = wire_problem(wire);
        assert_eq!(paths(&problems), ["accountMappingFile"], "{wire:?}");
        assert!(
            problems[0].message.contains(words),
            "{wire:?}: {problems:?}"
        );
    }
    // Valid base64 of bad JSON: the JSON problem, at the document's root.
    let not_json = format!("{WIRE_PREFIX}{}", STANDARD_B64.encode("{nope"));
    assert!(
        wire_problem(&not_json)[0]
            .message
            .contains("not valid JSON")
    );
    // Valid JSON, invalid mapping: the mapping's own problems and paths.
    let seed = format!("{WIRE_PREFIX}{}", STANDARD_B64.encode(SEED_EXAMPLE));
    assert_eq!(wire_problem(&seed).len(), 4);
}

#[test]
fn wire_decoding_accepts_pretty_json_and_a_missing_name_parameter() {
    let expected = AccountMapping::from_json_str(TWELVE_DIGITS).unwrap();
    let pretty = format!("{WIRE_PREFIX}{}", STANDARD_B64.encode(TWELVE_DIGITS));
    assert_eq!(AccountMapping::from_wire(&pretty).unwrap(), expected);
    let no_name = format!(
        "data:application/json;base64,{}",
        STANDARD_B64.encode(TWELVE_DIGITS)
    );
    assert_eq!(AccountMapping::from_wire(&no_name).unwrap(), expected);
}

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as STANDARD_B64;

// ---- diff ----

#[test]
fn diff_reports_added_removed_moved_and_default() {
    let older = AccountMapping::from_value(&json!({
        "defaultLaceworkAccountAws": "main",
        "integration_mappings": {
            "a": {"aws_accounts": ["000000000001", "000000000002"]},
            "b": {"aws_accounts": ["000000000003"]}
        }
    }))
    .unwrap();
    let newer = AccountMapping::from_value(&json!({
        "defaultLaceworkAccountAws": "Main2",
        "integration_mappings": {
            "a": {"aws_accounts": ["000000000001"]},
            "B": {"aws_accounts": ["000000000002", "000000000004"]}
        }
    }))
    .unwrap();
    let diff = older.diff(&newer);
    assert_eq!(
        diff.default_changed,
        Some(DefaultChange {
            from: "main".into(),
            to: "main2".into()
        })
    );
    assert_eq!(diff.added, [(id("000000000004"), "b".to_owned())]);
    assert_eq!(diff.removed, [(id("000000000003"), "b".to_owned())]);
    assert_eq!(
        diff.moved,
        [MovedAccount {
            account: id("000000000002"),
            from: "a".into(),
            to: "b".into()
        }]
    );
    assert_ne!(diff, MappingDiff::default());
    assert_eq!(older.diff(&older), MappingDiff::default());
    let json = serde_json::to_value(&diff).unwrap();
    assert_eq!(json["moved"][0]["account"], "000000000002");
}

// ---- organization tree and rules ----

fn unit(id: &str, name: &str, parent: &str) -> OrganizationalUnit {
    OrganizationalUnit {
        id: id.into(),
        name: name.into(),
        parent_id: parent.into(),
    }
}

fn member(account: &str, parent: &str, status: AccountStatus) -> OrganizationAccount {
    OrganizationAccount {
        id: id(account),
        name: format!("account {account}"),
        parent_id: parent.into(),
        status,
    }
}

/// r-root
/// ├── Security (ou-sec)             rule: secops
/// │   └── Audit Team (ou-audit)     no rule
/// │       └── 000000000001
/// ├── Workloads (ou-work)           rule: prod
/// │   ├── Sandbox (ou-sandbox)      rule: dev
/// │   │   ├── 000000000002
/// │   │   └── 000000000005 (SUSPENDED)
/// │   ├── security (ou-worksec)     same name as a rule OU, lower case: secops
/// │   │   └── 000000000006
/// │   └── 000000000003
/// ├── Other (ou-other)              no rule
/// │   └── 000000000004
/// └── 000000000007                  directly under the root
fn nested_tree() -> OrganizationTree {
    use AccountStatus::*;
    let mut tree = OrganizationTree::new("r-root");
    tree.add_unit(unit("ou-sec", "Security", "r-root"));
    tree.add_unit(unit("ou-audit", "Audit Team", "ou-sec"));
    tree.add_unit(unit("ou-work", "Workloads", "r-root"));
    tree.add_unit(unit("ou-sandbox", "Sandbox", "ou-work"));
    tree.add_unit(unit("ou-worksec", "security", "ou-work"));
    tree.add_unit(unit("ou-other", "Other", "r-root"));
    tree.add_account(member("000000000001", "ou-audit", Active));
    tree.add_account(member("000000000002", "ou-sandbox", Active));
    tree.add_account(member("000000000005", "ou-sandbox", Suspended));
    tree.add_account(member("000000000006", "ou-worksec", Active));
    tree.add_account(member("000000000003", "ou-work", Active));
    tree.add_account(member("000000000004", "ou-other", Active));
    tree.add_account(member("000000000007", "r-root", Active));
    tree
}

#[test]
fn ancestors_are_listed_nearest_first() {
    let tree = nested_tree();
    let ids: Vec<_> = tree
        .ancestors_of(&id("000000000002"))
        .unwrap()
        .iter()
        .map(|unit| unit.id.as_str())
        .collect();
    assert_eq!(ids, ["ou-sandbox", "ou-work"]);
    assert!(tree.ancestors_of(&id("000000000007")).unwrap().is_empty());
    let err = tree.ancestors_of(&id("999999999999")).unwrap_err();
    assert!(err.to_string().contains("not in the organization tree"));
}

#[test]
fn a_tree_of_accounts_only_knows_members_and_their_state_and_no_ous() {
    use AccountStatus::*;
    let tree = OrganizationTree::accounts_only([
        (id("000000000001"), "Prod".to_owned(), Active),
        (id("000000000002"), "Old".to_owned(), Suspended),
    ]);
    assert_eq!(tree.units().count(), 0);
    assert_eq!(tree.account(&id("000000000002")).unwrap().status, Suspended);
    assert!(tree.account(&id("999999999999")).is_none());
    // No OU is known above any account, so OU rules find none and the default applies.
    assert!(tree.ancestors_of(&id("000000000001")).unwrap().is_empty());
    let rules = OuRules::parse("Prod=prod").unwrap();
    assert_eq!(
        rules.sub_account_for(&tree, &id("000000000001")).unwrap(),
        None
    );
}

#[test]
fn ou_rules_parse_trims_and_keeps_order() {
    let rules =
        OuRules::parse(" Security = SecOps ,Workloads=prod,sandbox=dev, SECURITY=secops").unwrap();
    let pairs: Vec<_> = rules
        .rules()
        .iter()
        .map(|r| (r.ou_name.as_str(), r.sub_account.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("Security", "secops"),
            ("Workloads", "prod"),
            ("sandbox", "dev")
        ]
    );
    assert!(OuRules::parse("").unwrap().is_empty());
    assert!(OuRules::parse("  ").unwrap().is_empty());
    assert_eq!(rules.sub_account_for_ou("WORKLOADS"), Some("prod"));
    assert_eq!(rules.sub_account_for_ou("sandBox"), Some("dev"));
    assert_eq!(rules.sub_account_for_ou("Nope"), None);
}

#[test]
fn ou_rules_parse_reports_every_problem_with_its_position() {
    let problems = OuRules::parse(
        "Security secops, =prod, Workloads=, Security=secops, security=dev, a=b=c, x=my acct,",
    )
    .unwrap_err();
    let message = |path: &str| at(&problems, path).message.clone();
    assert!(message("rules[0]").contains("no '='"));
    assert!(message("rules[1]").contains("no OU name"));
    assert!(message("rules[2]").contains("no sub-account"));
    assert!(message("rules[4]").contains("rules[3]"));
    assert!(message("rules[5]").contains("more than one '='"));
    assert!(message("rules[6]").contains("spaces"));
    assert!(message("rules[7]").contains("empty"));
    assert_eq!(problems.len(), 7, "{problems:#?}");
}

#[test]
fn build_uses_the_nearest_ancestor_rule_and_only_active_accounts() {
    let tree = nested_tree();
    let rules = OuRules::parse("SECURITY=secops, Workloads=prod, Sandbox=dev").unwrap();
    let mapping = AccountMapping::build(&tree, &rules, "Main").unwrap();
    assert_eq!(mapping.default_account(), "main");
    let mapped: Vec<(String, String)> = mapping
        .mapped_accounts()
        .into_iter()
        .map(|(account, lacework)| (account.to_string(), lacework.to_owned()))
        .collect();
    let expected: Vec<(String, String)> = [
        ("000000000001", "secops"), // via Security, two levels up
        ("000000000002", "dev"),    // Sandbox is nearer than Workloads
        ("000000000003", "prod"),
        ("000000000006", "secops"), // an OU named "security" elsewhere in the tree
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(mapped, expected);
    // Suspended, rule-less and root accounts are not listed; they resolve to the default.
    for unlisted in ["000000000005", "000000000004", "000000000007"] {
        assert!(!mapping.resolve(&id(unlisted)).mapped, "{unlisted}");
    }
    assert_eq!(
        rules.sub_account_for(&tree, &id("000000000002")).unwrap(),
        Some("dev")
    );
    assert_eq!(
        rules.sub_account_for(&tree, &id("000000000004")).unwrap(),
        None
    );
}

#[test]
fn build_leaves_out_accounts_whose_sub_account_is_the_default() {
    let tree = nested_tree();
    let rules = OuRules::parse("Workloads=MAIN").unwrap();
    let mapping = AccountMapping::build(&tree, &rules, "main").unwrap();
    assert_eq!(mapping.mapped_accounts().len(), 0);
    assert_eq!(
        mapping.resolve(&id("000000000003")).lacework_account,
        "main"
    );
}

#[test]
fn a_cycle_is_an_error_not_a_hang() {
    let mut tree = nested_tree();
    tree.add_unit(unit("ou-b", "B", "ou-a"));
    tree.add_unit(unit("ou-a", "A", "ou-c"));
    tree.add_unit(unit("ou-c", "C", "ou-b"));
    tree.add_account(member("000000000010", "ou-b", AccountStatus::Active));
    tree.add_account(member("000000000011", "ou-c", AccountStatus::Active));
    let err = tree.ancestors_of(&id("000000000010")).unwrap_err();
    let problems = err.problems();
    assert_eq!(paths(&problems), ["organization.units[\"ou-a\"].parent_id"]);
    assert!(problems[0].message.contains("ou-a -> ou-c -> ou-b -> ou-a"));
    // Both accounts under the cycle: one problem, said once.
    let rules = OuRules::parse("Security=secops").unwrap();
    match AccountMapping::build(&tree, &rules, "main") {
        Err(Error::Mapping(problems)) => assert_eq!(problems.len(), 1, "{problems:#?}"),
        other => panic!("expected a cycle error, got {other:?}"),
    }
    // An OU that is its own parent.
    let mut tree = OrganizationTree::new("r-root");
    tree.add_unit(unit("ou-self", "Self", "ou-self"));
    tree.add_account(member("000000000012", "ou-self", AccountStatus::Active));
    assert!(tree.ancestors_of(&id("000000000012")).is_err());
}

#[test]
fn a_missing_parent_is_an_error_naming_the_broken_link() {
    let mut tree = OrganizationTree::new("r-root");
    tree.add_unit(unit("ou-a", "A", "ou-gone"));
    tree.add_account(member("000000000001", "ou-a", AccountStatus::Active));
    tree.add_account(member(
        "000000000002",
        "ou-also-gone",
        AccountStatus::Active,
    ));
    let problems = tree
        .ancestors_of(&id("000000000001"))
        .unwrap_err()
        .problems();
    assert_eq!(paths(&problems), ["organization.units[\"ou-a\"].parent_id"]);
    assert!(problems[0].message.contains("\"ou-gone\""));
    let problems = tree
        .ancestors_of(&id("000000000002"))
        .unwrap_err()
        .problems();
    assert_eq!(
        paths(&problems),
        ["organization.accounts[\"000000000002\"].parent_id"]
    );
    let err = AccountMapping::build(&tree, &OuRules::default(), "main").unwrap_err();
    assert_eq!(err.problems().len(), 2);
}

#[test]
fn account_status_reads_aws_spellings() {
    for (text, status) in [
        ("ACTIVE", AccountStatus::Active),
        ("SUSPENDED", AccountStatus::Suspended),
        ("PENDING_CLOSURE", AccountStatus::PendingClosure),
        ("PENDING_ACTIVATION", AccountStatus::PendingActivation),
        ("CLOSED", AccountStatus::Closed),
    ] {
        assert_eq!(AccountStatus::from_aws(text), Some(status));
        assert_eq!(status.as_aws(), text);
        assert_eq!(serde_json::to_value(status).unwrap(), json!(text));
    }
    assert_eq!(AccountStatus::from_aws("active"), None);
}

// ---- properties ----

fn account_id() -> impl Strategy<Value = AccountId> {
    "[0-9]{12}".prop_map(|text| AccountId::parse(&text).unwrap())
}

fn lacework_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_-]{0,11}"
}

fn any_mapping() -> impl Strategy<Value = AccountMapping> {
    (
        lacework_name(),
        prop::collection::btree_map(account_id(), lacework_name(), 0..24),
    )
        .prop_map(|(default, assignments)| {
            let mut mapping = AccountMapping::new(&default).unwrap();
            for (account, lacework) in assignments {
                mapping.assign(account, &lacework).unwrap();
            }
            mapping
        })
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[0-9]{0,14}".prop_map(Value::String),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just(DEFAULT_FIELD.to_owned()),
                    Just(MAPPINGS_FIELD.to_owned()),
                    Just(AWS_ACCOUNTS_FIELD.to_owned()),
                    ".{0,6}",
                ],
                inner,
                0..5
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn wire_round_trips(mapping in any_mapping()) {
        prop_assert_eq!(AccountMapping::from_wire(&mapping.to_wire()).unwrap(), mapping);
    }

    #[test]
    fn value_round_trips(mapping in any_mapping()) {
        prop_assert_eq!(AccountMapping::from_value(&mapping.to_value()).unwrap(), mapping.clone());
        let text = serde_json::to_string_pretty(&mapping.to_value()).unwrap();
        prop_assert_eq!(AccountMapping::from_json_str(&text).unwrap(), mapping);
    }

    #[test]
    fn wire_is_deterministic(mapping in any_mapping()) {
        // The same mapping built in another order encodes the same way.
        let mut rebuilt = AccountMapping::new(mapping.default_account()).unwrap();
        let listed: Vec<_> = mapping.mapped_accounts().into_iter().rev().collect();
        for (account, lacework) in listed {
            rebuilt.assign(account.clone(), lacework).unwrap();
        }
        prop_assert_eq!(mapping.to_wire(), rebuilt.to_wire());
        prop_assert_eq!(mapping.to_wire(), mapping.clone().to_wire());
        prop_assert!(mapping.to_wire().starts_with(WIRE_PREFIX));
    }

    #[test]
    fn diff_with_itself_is_empty_and_other_diffs_are_not(a in any_mapping(), b in any_mapping()) {
        prop_assert_eq!(a.diff(&a), MappingDiff::default());
        prop_assert_eq!(a.diff(&b) == MappingDiff::default(), a == b);
    }

    #[test]
    fn resolution_agrees_with_the_listing(mapping in any_mapping(), account in account_id()) {
        let resolution = mapping.resolve(&account);
        match mapping.mapped_accounts().get(&account) {
            Some(lacework) => prop_assert_eq!(resolution, Resolution { lacework_account: lacework, mapped: true }),
            None => prop_assert_eq!(resolution, Resolution { lacework_account: mapping.default_account(), mapped: false }),
        }
    }

    #[test]
    fn from_json_str_never_panics(text in ".{0,200}") {
        let _ = AccountMapping::from_json_str(&text);
    }

    #[test]
    fn arbitrary_json_is_accepted_or_explained(value in any_json()) {
        let text = value.to_string();
        match AccountMapping::from_json_str(&text) {
            Ok(mapping) => prop_assert_eq!(AccountMapping::from_value(&mapping.to_value()).unwrap(), mapping),
            Err(Error::Mapping(problems)) => {
                prop_assert!(!problems.is_empty());
                for problem in problems {
                    prop_assert!(problem.path.starts_with('$'));
                    prop_assert!(!problem.message.is_empty());
                }
            }
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }

    #[test]
    fn from_wire_never_panics(text in ".{0,120}", payload in "[A-Za-z0-9+/=]{0,60}") {
        let _ = AccountMapping::from_wire(&text);
        let _ = AccountMapping::from_wire(&format!("{WIRE_PREFIX}{payload}"));
    }

    #[test]
    fn ou_rules_parse_never_panics(text in ".{0,80}") {
        let _ = OuRules::parse(&text);
    }
}

#[test]
fn to_value_is_the_seed_document() {
    let mapping = AccountMapping::from_json_str(TWELVE_DIGITS).unwrap();
    let expected: Value = serde_json::from_str(TWELVE_DIGITS).unwrap();
    assert_eq!(mapping.to_value(), expected);
    let ids: BTreeSet<_> = mapping
        .lacework_accounts()
        .flat_map(|(_, accounts)| accounts.iter().cloned())
        .collect();
    assert_eq!(ids.len(), 4);
}

/// A random organization: OUs under the root or an earlier OU, accounts under the root or any
/// OU, some of them not ACTIVE; and rules naming some of the OUs (in any letter case).
fn any_organization() -> impl Strategy<Value = (OrganizationTree, OuRules)> {
    let units = prop::collection::vec(any::<prop::sample::Index>(), 1..30);
    let accounts = prop::collection::vec((any::<prop::sample::Index>(), 0..4u8), 0..80);
    let rules = prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, any::<bool>()), 0..8);
    (units, accounts, rules).prop_map(|(units, accounts, rules)| {
        let mut tree = OrganizationTree::new("r-root");
        let mut ids = vec!["r-root".to_owned()];
        for (n, parent) in units.iter().enumerate() {
            let id = format!("ou-{n}");
            tree.add_unit(OrganizationalUnit {
                id: id.clone(),
                name: format!("Unit{n}"),
                parent_id: parent.get(&ids).clone(),
            });
            ids.push(id);
        }
        for (n, (parent, status)) in accounts.iter().enumerate() {
            tree.add_account(OrganizationAccount {
                id: AccountId::parse(&format!("{:012}", 100_000_000_000u64 + n as u64)).unwrap(),
                name: format!("account-{n}"),
                parent_id: parent.get(&ids).clone(),
                status: match status {
                    0 => AccountStatus::Suspended,
                    _ => AccountStatus::Active,
                },
            });
        }
        let mut named = std::collections::BTreeSet::new();
        let text: Vec<String> = rules
            .iter()
            .filter_map(|(unit, sub, upper)| {
                let n = unit.index(units.len());
                named.insert(n).then(|| {
                    let name = format!("Unit{n}");
                    let name = if *upper { name.to_uppercase() } else { name };
                    format!("{name}=sub-{sub}")
                })
            })
            .collect();
        (tree, OuRules::parse(&text.join(",")).unwrap())
    })
}

proptest! {
    #[test]
    fn build_maps_each_active_account_by_its_own_nearest_rule((tree, rules) in any_organization()) {
        let mapping = AccountMapping::build(&tree, &rules, "main").unwrap();
        for account in tree.accounts() {
            let expected = match account.status {
                AccountStatus::Active => rules
                    .sub_account_for(&tree, &account.id)
                    .unwrap()
                    .filter(|sub| *sub != "main"),
                _ => None,
            };
            prop_assert_eq!(mapping.lacework_account_of(&account.id), expected, "{}", account.id);
        }
    }
}

#[test]
fn lenient_wire_reading_takes_what_lacework_examples_hold() {
    // Lacework's own examples (Go SDK tests, Terraform) list 9-digit AWS ids.
    let doc = r#"{"defaultLaceworkAccountAws": "lw_account_1", "integration_mappings": {"lw_account_2": {"aws_accounts": ["234556677", "774564564"]}}}"#;
    let wire = format!("{WIRE_PREFIX}{}", STANDARD_B64.encode(doc));
    assert!(
        AccountMapping::from_wire(&wire).is_err(),
        "strict reading refuses it"
    );

    let (mapping, healed) = AccountMapping::from_wire_lenient(&wire).unwrap();
    let padded = AccountId::parse("000234556677").unwrap();
    assert_eq!(mapping.lacework_account_of(&padded), Some("lw_account_2"));
    let paths: Vec<&str> = healed.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "$.integration_mappings.lw_account_2.aws_accounts[0]",
            "$.integration_mappings.lw_account_2.aws_accounts[1]"
        ]
    );
    assert!(
        healed[0].message.contains("000234556677"),
        "{:?}",
        healed[0]
    );

    // Another data: prefix: the Go SDK decodes whatever follows the first comma.
    let other = format!(
        "data:application/json;charset=utf-8;base64,{}",
        STANDARD_B64.encode(doc)
    );
    let (same, healed) = AccountMapping::from_wire_lenient(&other).unwrap();
    assert_eq!(same, mapping);
    assert_eq!(healed.len(), 3);
    assert_eq!(healed[0].path, "accountMappingFile");

    // What cannot be healed is still an error, with its path.
    let bad = format!(
        "{WIRE_PREFIX}{}",
        STANDARD_B64.encode(r#"{"defaultLaceworkAccountAws": "a", "integration_mappings": {"b": {"aws_accounts": ["12345678901x"]}}}"#)
    );
    let err = AccountMapping::from_wire_lenient(&bad).unwrap_err();
    assert_eq!(
        err.problems()[0].path,
        "$.integration_mappings.b.aws_accounts[0]"
    );
    for not_a_file in [
        "",
        "hello",
        "text/plain,abc",
        "data:application/json;base64,%%%",
    ] {
        assert!(
            AccountMapping::from_wire_lenient(not_a_file).is_err(),
            "{not_a_file:?}"
        );
    }
}

proptest! {
    #[test]
    fn lenient_reading_agrees_with_strict_reading_on_what_we_write(mapping in any_mapping()) {
        let (read, healed) = AccountMapping::from_wire_lenient(&mapping.to_wire()).unwrap();
        prop_assert_eq!(read, mapping);
        prop_assert!(healed.is_empty());
    }
}
