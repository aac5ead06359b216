//! Renders an [`Expr`] as search text the parser reads back into the same tree: strings are
//! quoted with `''` escapes, floats always carry a `.` or an exponent (so they stay floats), and
//! a sub-expression is parenthesized exactly where precedence or associativity would regroup it.

use std::fmt::{self, Display, Formatter};

use super::{CompareOp, Expr, Literal};

impl Display for CompareOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Like => "like",
            CompareOp::ILike => "ilike",
        })
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(text) => write!(f, "'{}'", text.replace('\'', "''")),
            Literal::Int(int) => write!(f, "{int}"),
            // `{:?}` keeps `1.0` a float (`{}` would print `1`, which reads back as an integer).
            Literal::Float(float) => write!(f, "{float:?}"),
            Literal::Bool(value) => write!(f, "{value}"),
        }
    }
}

/// Binding strength: `or` < `and` < everything else.
fn precedence(expr: &Expr) -> u8 {
    match expr {
        Expr::Or(..) => 0,
        Expr::And(..) => 1,
        _ => 2,
    }
}

/// `child`, parenthesized when it binds looser than `at_least`.
struct Operand<'a>(&'a Expr, u8);

impl Display for Operand<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let Operand(expr, at_least) = *self;
        if precedence(expr) < at_least { write!(f, "({expr})") } else { write!(f, "{expr}") }
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            // Both operators associate to the left: a right operand of the same operator needs
            // parentheses, a left one does not.
            Expr::Or(left, right) => write!(f, "{} or {}", Operand(left, 0), Operand(right, 1)),
            Expr::And(left, right) => write!(f, "{} and {}", Operand(left, 1), Operand(right, 2)),
            Expr::Not(inner) => write!(f, "not {}", Operand(inner, 2)),
            Expr::Compare { field, op, value } => write!(f, "{} {op} {value}", field.name),
            Expr::In { field, values, negated } => {
                let not = if *negated { "not " } else { "" };
                write!(f, "{} {not}in [", field.name)?;
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_str("]")
            }
            Expr::IsNull { field, negated } => {
                write!(f, "{} is {}null", field.name, if *negated { "not " } else { "" })
            }
        }
    }
}
