//! Where an error is: the line of a byte offset, and the dotted field path
//! (like `pool[1].backend[0].weight`) of a TOML parser's error.

use super::error::{ConfigError, Problem};
use super::raw::Span;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use toml::Spanned;

/// The text being parsed and its name, for building errors.
pub(super) struct Cx<'a> {
    pub(super) text: &'a str,
    pub(super) file: &'a str,
}

impl Cx<'_> {
    /// 1-based line of a byte offset.
    pub(super) fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// The error of `field`, whose value (or table) is at `span`.
    pub(super) fn err(
        &self,
        span: Span,
        field: impl Into<String>,
        problem: Problem,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_string(),
            line: Some(self.line(span.start)),
            field: Some(field.into()),
            problem,
        }
    }

    /// Turns a toml/serde error into a `ConfigError`: the line from the span,
    /// the field path by finding the span in the document, the message on one line.
    pub(super) fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span();
        let field = span
            .as_ref()
            .and_then(|s| locate(self.text, s.start))
            .filter(|f| !f.is_empty());
        let mut message = tidy_message(e.message());
        if message.is_empty() {
            // The toml crate gives no words for some syntax errors (a key
            // with nothing after its `=` at the end of the file).
            message = "invalid TOML: a key without a value, or a line cut short".to_string();
        }
        // Serde sees a TOML datetime as a table; say what it really is.
        if let Some(s) = &span {
            let written = self.text.get(s.clone()).unwrap_or("").trim_start();
            if !written.starts_with(['{', '[']) {
                message = message.replace("invalid type: table", "invalid type: datetime");
            }
        }
        if let Some(f) = &field {
            if ["frontend", "pool", "rule", "nat_rule"].contains(&f.as_str())
                && message.contains("expected an array")
            {
                message.push_str(&format!(" (write each entry as [[{f}]])"));
            } else if f.ends_with(".backend") && message.contains("expected an array") {
                message.push_str(" (write each entry as [[pool.backend]])");
            }
        }
        ConfigError {
            file: self.file.to_string(),
            line: span.map(|s| self.line(s.start)),
            field,
            problem: Problem::Toml(message),
        }
    }
}

/// One-line, TOML-flavoured version of a toml/serde error message.
fn tidy_message(message: &str) -> String {
    let one_line = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    one_line
        .replace("expected i64", "expected an integer")
        .replace("expected a sequence", "expected an array")
        .replace("invalid type: map", "invalid type: table")
        .replace("invalid type: sequence", "invalid type: array")
        .replace("invalid type: floating point", "invalid type: float")
}

// ---- Field paths of serde errors: a spanned view of the whole document ----

/// Any TOML value, with the spans of every key and value beneath it.
enum Node {
    Table(Vec<(Spanned<String>, Spanned<Node>)>),
    Array(Vec<Spanned<Node>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            entries.push((key, map.next_value::<Spanned<Node>>()?));
        }
        Ok(Node::Table(entries))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }
}

/// The dotted path (like `pool[1].backend[0].weight`) of the innermost key or
/// value at byte `offset`, if the text is well-formed TOML. (Documents holding
/// datetimes do not fit `Node`; their errors go without a path.)
fn locate(text: &str, offset: usize) -> Option<String> {
    let root: Node = toml::from_str(text).ok()?;
    let mut path = String::new();
    locate_in(&root, offset, &mut path).then_some(path)
}

fn locate_in(node: &Node, offset: usize, path: &mut String) -> bool {
    let len = path.len();
    match node {
        Node::Table(entries) => {
            for (key, value) in entries {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key.get_ref());
                if key.span().contains(&offset)
                    || locate_in(value.get_ref(), offset, path)
                    || value.span().contains(&offset)
                {
                    return true;
                }
                path.truncate(len);
            }
        }
        Node::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                if locate_in(item.get_ref(), offset, path) || item.span().contains(&offset) {
                    return true;
                }
                path.truncate(len);
            }
        }
        Node::Scalar => {}
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_numbers() {
        let cx = Cx {
            text: "a\nb\n\nc",
            file: "f",
        };
        assert_eq!(cx.line(0), 1);
        assert_eq!(cx.line(2), 2);
        assert_eq!(cx.line(5), 4);
        assert_eq!(cx.line(100), 4);
    }

    #[test]
    fn locate_paths() {
        let text =
            "[[pool]]\nname = \"a\"\n[[pool.backend]]\nport = 1\n[[pool.backend]]\nport = 2\n";
        let at = |needle: &str| text.find(needle).unwrap();
        assert_eq!(
            locate(text, at("port = 2")).as_deref(),
            Some("pool[0].backend[1].port")
        );
        assert_eq!(
            locate(text, at("2\n")).as_deref(),
            Some("pool[0].backend[1].port")
        );
        assert_eq!(locate(text, at("\"a\"")).as_deref(), Some("pool[0].name"));
    }
}
