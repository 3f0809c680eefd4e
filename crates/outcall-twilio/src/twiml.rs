//! The TwiML documents outcall answers Twilio's voice webhook with: connect
//! the call to our media-stream WebSocket, say a message and hang up (a
//! voicemail), or just hang up.
//!
//! Escaping is done here, by hand, because the documents are tiny and the
//! rules are few: `&`, `<`, `>`, `"` and `'` become entities; in attribute
//! values tab, CR and LF become character references so an XML parser's
//! attribute normalisation keeps them; characters XML 1.0 forbids (other C0
//! controls, U+FFFE, U+FFFF) become U+FFFD, since no escape can carry them.

use std::fmt::Write as _;

const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// `<Connect><Stream url="…">` with custom parameters, which Twilio passes on
/// in the stream's `start.customParameters` (a per-call token goes there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectStream {
    url: String,
    parameters: Vec<(String, String)>,
}

impl ConnectStream {
    /// `url` is the `wss://…/media-stream` endpoint Twilio connects to.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            parameters: Vec::new(),
        }
    }

    /// Adds a `<Parameter name="…" value="…"/>`.
    pub fn parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.parameters.push((name.into(), value.into()));
        self
    }

    /// The whole TwiML document.
    pub fn build(&self) -> String {
        let mut out = String::with_capacity(160 + 64 * self.parameters.len());
        out.push_str(DECLARATION);
        out.push_str("<Response><Connect><Stream url=\"");
        escape_into(&mut out, &self.url, true);
        out.push_str("\">");
        for (name, value) in &self.parameters {
            out.push_str("<Parameter name=\"");
            escape_into(&mut out, name, true);
            out.push_str("\" value=\"");
            escape_into(&mut out, value, true);
            out.push_str("\"/>");
        }
        out.push_str("</Stream></Connect></Response>");
        out
    }
}

/// `<Say>message</Say><Hangup/>`: leave a message (on a voicemail) and end.
pub fn say_then_hangup(message: &str) -> String {
    let mut out = String::with_capacity(80 + message.len());
    out.push_str(DECLARATION);
    out.push_str("<Response><Say>");
    escape_into(&mut out, message, false);
    out.push_str("</Say><Hangup/></Response>");
    out
}

/// `<Hangup/>` alone: end the call at once.
pub fn hangup() -> String {
    format!("{DECLARATION}<Response><Hangup/></Response>")
}

/// Appends `text` escaped for element content, or for a double- or
/// single-quoted attribute value when `attribute` is true.
fn escape_into(out: &mut String, text: &str, attribute: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' if attribute => {
                // Infallible: writing to a String.
                let _ = write!(out, "&#{};", u32::from(c));
            }
            '\t' | '\n' => out.push(c),
            // A literal CR in content would be normalised to LF by the parser.
            '\r' => out.push_str("&#13;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(xml).expect("well-formed XML")
    }

    #[test]
    fn connect_stream_exact_output() {
        let xml = ConnectStream::new("wss://outcall.example.com/media-stream")
            .parameter("token", "abc.def")
            .build();
        assert_eq!(
            xml,
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://outcall.example.com/media-stream"><Parameter name="token" value="abc.def"/></Stream></Connect></Response>"#
        );
    }

    #[test]
    fn hostile_values_round_trip() {
        let values = [
            (
                "prompt",
                "Say <b>hi</b> & \"welcome\" to O'Brien's café — 日本語 🙂",
            ),
            ("tabs", "a\tb\nc\r\nd"),
            ("amp-entity", "&amp; &#60; ]]> <!-- -->"),
            ("", ""),
        ];
        let url = "wss://h.example/media-stream?a=1&b=\"2\"";
        let mut builder = ConnectStream::new(url);
        for (name, value) in values {
            builder = builder.parameter(name, value);
        }
        let xml = builder.build();
        let doc = parse(&xml);
        let stream = doc
            .descendants()
            .find(|n| n.has_tag_name("Stream"))
            .expect("Stream");
        assert_eq!(stream.attribute("url"), Some(url));
        let got: Vec<(&str, &str)> = stream
            .children()
            .filter(|n| n.has_tag_name("Parameter"))
            .map(|n| {
                (
                    n.attribute("name").expect("name"),
                    n.attribute("value").expect("value"),
                )
            })
            .collect();
        assert_eq!(got, values);
        let root = doc.root_element();
        assert!(root.has_tag_name("Response"));
        assert_eq!(
            root.first_element_child().map(|n| n.tag_name().name()),
            Some("Connect")
        );
    }

    #[test]
    fn say_round_trips_and_hangs_up() {
        let message = "Hi <Ann> & \"Bob\", it's Zoë.\r\nCall us back!";
        let xml = say_then_hangup(message);
        let doc = parse(&xml);
        let children: Vec<_> = doc.root_element().children().collect();
        assert_eq!(children.len(), 2);
        assert!(children[0].has_tag_name("Say"));
        assert_eq!(children[0].text(), Some(message));
        assert!(children[1].has_tag_name("Hangup"));
    }

    #[test]
    fn forbidden_characters_are_replaced() {
        let xml = say_then_hangup("a\u{0}b\u{7}c");
        let doc = parse(&xml);
        let say = doc.root_element().first_element_child().expect("Say");
        assert_eq!(say.text(), Some("a\u{fffd}b\u{fffd}c"));
    }

    #[test]
    fn plain_hangup() {
        assert_eq!(
            hangup(),
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>"#
        );
        let xml = hangup();
        let doc = parse(&xml);
        assert!(
            doc.root_element()
                .first_element_child()
                .expect("child")
                .has_tag_name("Hangup")
        );
    }
}
