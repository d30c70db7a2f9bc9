//! The report's fixed prose lives in Markdown templates under bench/templates/;
//! the renderers fill their `{{name}}` placeholders with figures taken from
//! the typed results.

/// `template` with every `{{name}}` replaced by its value.
///
/// # Panics
/// On a placeholder with no value or a value with no placeholder: a mismatch
/// between a template and its renderer, which the renderers' tests catch.
pub fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        let placeholder = format!("{{{{{name}}}}}");
        assert!(
            out.contains(&placeholder),
            "template has no placeholder {placeholder}"
        );
        out = out.replace(&placeholder, value);
    }
    if let Some(at) = out.find("{{") {
        let rest = &out[at..];
        let end = rest.find("}}").map_or(rest.len(), |e| e + 2);
        panic!("template placeholder {} has no value", &rest[..end]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn fills_every_placeholder() {
        let t = "a {{x}} b {{y}} {{x}}";
        assert_eq!(
            fill(t, &[("x", "1".into()), ("y", "2".into())]),
            "a 1 b 2 1"
        );
    }

    #[test]
    #[should_panic(expected = "{{y}} has no value")]
    fn refuses_an_unfilled_placeholder() {
        fill("a {{x}} {{y}}", &[("x", "1".into())]);
    }

    #[test]
    #[should_panic(expected = "no placeholder {{z}}")]
    fn refuses_a_value_without_placeholder() {
        fill("a {{x}}", &[("x", "1".into()), ("z", "2".into())]);
    }
}
