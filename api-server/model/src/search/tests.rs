#![allow(clippy::unwrap_used, clippy::panic)]

use proptest::prelude::*;

use super::*;

fn field(name: &str, position: usize) -> Field {
    Field { name: name.into(), position }
}

#[test]
fn and_binds_tighter_than_or() {
    let expr = parse("a = 'x' or b = 'y' and c = 'z'").unwrap();
    let Expr::Or(left, right) = expr else { panic!("expected or at the top: {expr:?}") };
    assert!(matches!(*left, Expr::Compare { .. }));
    assert!(matches!(*right, Expr::And(..)));
}

#[test]
fn parentheses_and_not_group() {
    let expr = parse("not (a = 'x' or b = 'y')").unwrap();
    let Expr::Not(inner) = expr else { panic!("expected not") };
    assert!(matches!(*inner, Expr::Or(..)));
}

#[test]
fn literals_of_every_kind() {
    let expr = parse("x in ['it''s', 42, -1.5, true]").unwrap();
    assert_eq!(
        expr,
        Expr::In {
            field: field("x", 0),
            values: vec![
                Literal::String("it's".into()),
                Literal::Int(42),
                Literal::Float(-1.5),
                Literal::Bool(true)
            ],
            negated: false,
        }
    );
}

#[test]
fn keywords_are_case_insensitive_and_label_keys_keep_dots_and_slashes() {
    let expr = parse("labels.app.kubernetes.io/name NOT IN ['a'] AND deleted_time IS NOT NULL").unwrap();
    let Expr::And(left, right) = expr else { panic!("expected and") };
    assert!(
        matches!(*left, Expr::In { ref field, negated: true, .. } if field.name == "labels.app.kubernetes.io/name")
    );
    assert!(matches!(*right, Expr::IsNull { negated: true, .. }));
}

#[test]
fn syntax_errors_say_where_and_what() {
    let cases = [
        ("name = ", 7, "expected a value"),
        ("name 'x'", 5, "expected an operator"),
        ("name = 'x", 7, "unterminated string"),
        ("(name = 'x'", 11, "expected `)`"),
        ("name = 'x' name = 'y'", 11, "expected `and`"),
        ("name in 'x'", 8, "expected `[`"),
        ("name = 'x' ; drop table resources", 11, "unexpected character `;`"),
        ("= 'x'", 0, "expected a field name"),
        ("and = 'x'", 0, "expected a field name"),
        ("name is 'x'", 8, "expected `null`"),
        ("", 0, "empty expression"),
    ];
    for (input, position, message) in cases {
        let err = parse_search(input).unwrap_err();
        assert_eq!(err.position, position, "{input}: {err}");
        assert!(err.message.contains(message), "{input}: {err}");
    }
}

#[test]
fn too_long_expressions_are_rejected() {
    let long = format!("name = '{}'", "x".repeat(MAX_SEARCH_LEN));
    assert!(parse_search(&long).unwrap_err().message.contains("longer than"));
}

#[test]
fn nesting_is_bounded_before_the_stack_is() {
    let deep = format!("{}name = 'x'{}", "(".repeat(MAX_SEARCH_DEPTH + 1), ")".repeat(MAX_SEARCH_DEPTH + 1));
    assert!(parse_search(&deep).unwrap_err().message.contains("nested deeper"));
    let nots = format!("{}name = 'x'", "not ".repeat(1000));
    assert!(parse_search(&nots).unwrap_err().message.contains("nested deeper"));
    let fine = format!("{}name = 'x'{}", "(".repeat(MAX_SEARCH_DEPTH), ")".repeat(MAX_SEARCH_DEPTH));
    assert!(parse_search(&fine).is_ok());
}

#[test]
fn rendering_quotes_escapes_and_keeps_grouping() {
    let expr = Expr::eq(Field::label("tier"), "o'brien")
        .and(Expr::eq(Field::new("a"), "x").or(Expr::eq(Field::new("b"), "y")))
        .and(Expr::Not(Box::new(Expr::is_null(Field::condition("Reconciled", None), false))));
    assert_eq!(
        expr.to_string(),
        "labels.tier = 'o''brien' and (a = 'x' or b = 'y') and not status.conditions.Reconciled is null"
    );
    assert_eq!(parse_search(&expr.to_string()).unwrap(), expr);
    assert_eq!(Literal::Float(1.0).to_string(), "1.0", "a float stays a float");
}

fn field_name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_./-]{0,12}".prop_filter("not a keyword", |name| !parse::is_keyword(name))
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        "[^\\x00]{0,8}".prop_map(Literal::String),
        any::<i64>().prop_map(Literal::Int),
        (-1e12f64..1e12).prop_map(Literal::Float),
        any::<bool>().prop_map(Literal::Bool),
    ]
}

fn operator() -> impl Strategy<Value = CompareOp> {
    use CompareOp::*;
    prop_oneof![Just(Eq), Just(Ne), Just(Lt), Just(Le), Just(Gt), Just(Ge), Just(Like), Just(ILike)]
}

fn predicate() -> impl Strategy<Value = Expr> {
    prop_oneof![
        (field_name(), operator(), literal()).prop_map(|(name, op, value)| Expr::compare(
            Field::new(name),
            op,
            value
        )),
        (field_name(), prop::collection::vec(literal(), 1..4), any::<bool>())
            .prop_map(|(name, values, negated)| Expr::In { field: Field::new(name), values, negated }),
        (field_name(), any::<bool>()).prop_map(|(name, negated)| Expr::is_null(Field::new(name), negated)),
    ]
}

fn expression() -> impl Strategy<Value = Expr> {
    predicate().prop_recursive(6, 48, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.or(b)),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

proptest! {
    #[test]
    fn render_then_parse_gives_the_same_tree(expr in expression()) {
        let text = expr.to_string();
        prop_assert_eq!(parse_search(&text), Ok(expr), "{}", text);
    }
}
