//! Bounds on what a custom resource's CEL may cost before it runs: the parser (ANTLR, recursive
//! per nesting level) works on a thread of its own with a large stack, the source is bounded in
//! length, and the parsed tree in depth, since evaluation recurses once per level on the async
//! runtime's small worker stacks. One CR with `((((…))))` or `a.a.a…` must end as an
//! `InvalidConfig`, never as a stack overflow that takes every replica down.

use cel::{
    Env, IdedExpr, Program,
    common::ast::{EntryExpr, Expr},
};

/// Longest expression accepted, in bytes (the CRDs say the same in their schema).
pub const MAX_SOURCE_LEN: usize = hyperfleet_crds::MAX_EXPRESSION_LEN;
/// Deepest expression tree accepted.
pub const MAX_DEPTH: usize = 48;
/// Stack of the parsing thread: enough for any source within [`MAX_SOURCE_LEN`].
const PARSE_STACK: usize = 256 << 20;

/// Parses `source` in `env` within the limits; the error says which limit or what the parser said.
pub fn parse_bounded(env: &Env, source: &str) -> Result<Program, String> {
    if source.len() > MAX_SOURCE_LEN {
        return Err(format!("longer than {MAX_SOURCE_LEN} bytes ({} bytes)", source.len()));
    }
    std::thread::scope(|scope| {
        let parse = std::thread::Builder::new()
            .name("cel-parse".into())
            .stack_size(PARSE_STACK)
            .spawn_scoped(scope, || {
                let program = env.compile(source).map_err(|err| bounded(&err.to_string()))?;
                // A too-deep tree is also dropped here, on the large stack (dropping recurses too).
                match depth(program.expression()) {
                    depth if depth > MAX_DEPTH => {
                        Err(format!("nested {depth} levels deep; at most {MAX_DEPTH} are allowed"))
                    }
                    _ => Ok(program),
                }
            })
            .map_err(|err| format!("cannot start the parser: {err}"))?;
        parse.join().map_err(|_| "the parser failed".to_owned())?
    })
}

/// A parser message cut to a few short lines: it quotes the source, which may be kilobytes.
fn bounded(message: &str) -> String {
    const LINES: usize = 6;
    const WIDTH: usize = 160;
    let mut lines: Vec<String> = message
        .lines()
        .take(LINES)
        .map(|line| match line.char_indices().nth(WIDTH) {
            Some((end, _)) => format!("{}…", &line[..end]),
            None => line.to_owned(),
        })
        .collect();
    if message.lines().count() > LINES {
        lines.push("…".into());
    }
    lines.join("\n")
}

/// The depth of an expression tree, counted without recursion.
pub fn depth(root: &IdedExpr) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(root, 1)];
    while let Some((node, level)) = pending.pop() {
        deepest = deepest.max(level);
        pending.extend(children(node).into_iter().map(|child| (child, level + 1)));
    }
    deepest
}

fn children(node: &IdedExpr) -> Vec<&IdedExpr> {
    match &node.expr {
        Expr::Call(call) => call.target.iter().map(AsRef::as_ref).chain(&call.args).collect(),
        Expr::Select(select) => vec![&select.operand],
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => map.entries.iter().flat_map(|entry| entry_children(&entry.expr)).collect(),
        Expr::Struct(object) => object.entries.iter().flat_map(|entry| entry_children(&entry.expr)).collect(),
        Expr::Comprehension(c) => vec![&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result],
        Expr::Unspecified | Expr::Ident(_) | Expr::Literal(_) => Vec::new(),
    }
}

fn entry_children(entry: &EntryExpr) -> Vec<&IdedExpr> {
    match entry {
        EntryExpr::StructField(field) => vec![&field.value],
        EntryExpr::MapEntry(entry) => vec![&entry.key, &entry.value],
    }
}
