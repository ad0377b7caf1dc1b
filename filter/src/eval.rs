//! Evaluation of a compiled tree against one message's properties, in
//! upstream's three-valued logic (TRUE, FALSE, NULL for unknown) plus
//! upstream's failure (an exception there, [`Fault`] here), which stops the
//! evaluation where it happens: `a > 5 OR b = 'x'` fails for `a = 'abc'`
//! even when `b` is `'x'`, and `b = 'x' OR a > 5` matches.

use crate::node::Node;
use crate::value::{equals, Fault, Value};
use crate::Properties;

/// Properties looked up once per evaluation: the first slots are cached
/// on the stack, so a property read twice (BETWEEN reads it twice) is found
/// once.
pub(crate) struct Scope<'a, P: ?Sized> {
    props: &'a P,
    names: &'a [Box<str>],
    cache: [Option<Option<&'a str>>; CACHED],
}

const CACHED: usize = 8;

impl<'a, P: Properties + ?Sized> Scope<'a, P> {
    pub(crate) fn new(props: &'a P, names: &'a [Box<str>]) -> Self {
        Self {
            props,
            names,
            cache: [None; CACHED],
        }
    }

    fn get(&mut self, slot: usize) -> Option<&'a str> {
        if let Some(Some(v)) = self.cache.get(slot) {
            return *v;
        }
        let v = self.props.property(self.names.get(slot)?);
        if let Some(c) = self.cache.get_mut(slot) {
            *c = Some(v);
        }
        v
    }
}

/// TRUE, FALSE or NULL (None) of a condition's value.
fn truth(v: Value<'_>) -> Result<Option<bool>, Fault> {
    match v {
        Value::Bool(b) => Ok(Some(b)),
        Value::Null => Ok(None),
        _ => Err(Fault),
    }
}

fn from_truth<'a>(t: Option<bool>) -> Value<'a> {
    t.map_or(Value::Null, Value::Bool)
}

/// The value of `node`.
pub(crate) fn eval<'a, P: Properties + ?Sized>(
    node: &'a Node,
    scope: &mut Scope<'a, P>,
) -> Result<Value<'a>, Fault> {
    Ok(match node {
        Node::Const(l) => l.value(),
        Node::Prop(slot) => scope.get(*slot).map_or(Value::Null, Value::Str),
        Node::Neg(n) => match eval(n, scope)? {
            Value::Int(i) => Value::Int(i.wrapping_neg()),
            Value::Long(l) => Value::Long(l.wrapping_neg()),
            Value::Double(d) => Value::Double(-d),
            _ => Value::Null,
        },
        Node::Cast(n) => match eval(n, scope)? {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            _ => Value::Bool(false),
        },
        Node::Not(n) => from_truth(truth(eval(n, scope)?)?.map(|b| !b)),
        Node::And(list) => {
            // FALSE as soon as one is FALSE; else NULL if one was NULL.
            let mut unknown = false;
            for n in list {
                match truth(eval(n, scope)?)? {
                    Some(false) => return Ok(Value::Bool(false)),
                    Some(true) => {}
                    None => unknown = true,
                }
            }
            from_truth((!unknown).then_some(true))
        }
        Node::Or(list) => {
            let mut unknown = false;
            for n in list {
                match truth(eval(n, scope)?)? {
                    Some(true) => return Ok(Value::Bool(true)),
                    Some(false) => {}
                    None => unknown = true,
                }
            }
            from_truth((!unknown).then_some(false))
        }
        Node::Eq(l, r) => {
            let lv = eval(l, scope)?;
            let rv = eval(r, scope)?;
            equals(lv, rv)?
        }
        Node::IsNull(n) => Value::Bool(eval(n, scope)? == Value::Null),
        Node::Order(op, l, r) => {
            let lv = eval(l, scope)?;
            if lv == Value::Null {
                return Ok(Value::Null);
            }
            let rv = eval(r, scope)?;
            if rv == Value::Null {
                return Ok(Value::Null);
            }
            Value::Bool(op.apply(lv, rv)?)
        }
        Node::In { prop, set, negated } => match scope.get(*prop) {
            None => Value::Null,
            Some(v) => {
                let found = if set.len() < 8 {
                    set.iter().any(|s| &**s == v)
                } else {
                    set.binary_search_by(|s| (**s).cmp(v)).is_ok()
                };
                Value::Bool(found != *negated)
            }
        },
        Node::Text {
            op,
            operand,
            needle,
            negated,
        } => {
            if needle.is_empty() {
                return Ok(Value::Bool(false));
            }
            match eval(operand, scope)? {
                Value::Str(s) => Value::Bool(op.holds(s, needle) != *negated),
                _ => Value::Bool(false),
            }
        }
    })
}
