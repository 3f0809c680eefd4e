//! Reading the TwiML the server under test answers with, as far as the simulator
//! acts on it: the verbs of `<Response>` in order, of which `<Say>`, `<Pause>`,
//! `<Hangup/>` and `<Connect><Stream url>` (with its `<Parameter>`s) matter.

use std::collections::BTreeMap;
use std::time::Duration;

/// Where `<Connect><Stream>` asks Twilio to stream the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StreamTarget {
    pub url: String,
    /// The `<Parameter name value>` children, passed on in `start.customParameters`.
    pub parameters: BTreeMap<String, String>,
}

/// One verb of a TwiML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verb {
    /// `<Say>`: speaks the text.
    Say(String),
    /// `<Pause length="…">` (1 s by default).
    Pause(Duration),
    /// `<Hangup/>`: ends the call at once.
    Hangup,
    /// `<Connect><Stream url>`: a bidirectional media stream.
    Stream(StreamTarget),
    /// Anything else (`<Play>`, `<Gather>`, `<Start>`, …), skipped.
    Other(String),
}

/// The verbs of `<Response>` in order; `None` when the text is not a TwiML document
/// (empty, not XML, or not rooted at `<Response>`).
pub(super) fn parse(text: &str) -> Option<Vec<Verb>> {
    let doc = roxmltree::Document::parse(text).ok()?;
    let root = doc.root_element();
    if !root.has_tag_name("Response") {
        return None;
    }
    let verbs = root
        .children()
        .filter(|n| n.is_element())
        .map(|n| match n.tag_name().name() {
            "Say" => Verb::Say(n.text().unwrap_or("").to_string()),
            "Pause" => Verb::Pause(Duration::from_secs(
                n.attribute("length")
                    .and_then(|l| l.trim().parse().ok())
                    .unwrap_or(1),
            )),
            "Hangup" => Verb::Hangup,
            "Connect" => n
                .children()
                .find(|c| c.has_tag_name("Stream"))
                .and_then(|s| {
                    let url = s.attribute("url")?.to_string();
                    let parameters = s
                        .children()
                        .filter(|p| p.has_tag_name("Parameter"))
                        .filter_map(|p| {
                            Some((
                                p.attribute("name")?.to_string(),
                                p.attribute("value").unwrap_or("").to_string(),
                            ))
                        })
                        .collect();
                    Some(Verb::Stream(StreamTarget { url, parameters }))
                })
                .unwrap_or_else(|| Verb::Other("Connect".into())),
            other => Verb::Other(other.to_string()),
        })
        .collect();
    Some(verbs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_stream_with_parameters() {
        let xml =
            outcall_twilio::twiml::ConnectStream::new("ws://127.0.0.1:1/media-stream?a=1&b=2")
                .parameter("token", "t.o&k\"")
                .parameter("callSid", "CA1")
                .build();
        let verbs = parse(&xml).expect("TwiML");
        let [Verb::Stream(target)] = verbs.as_slice() else {
            panic!("one stream: {verbs:?}");
        };
        assert_eq!(target.url, "ws://127.0.0.1:1/media-stream?a=1&b=2");
        assert_eq!(target.parameters["token"], "t.o&k\"");
        assert_eq!(target.parameters["callSid"], "CA1");
    }

    #[test]
    fn say_hangup_and_others() {
        let xml = outcall_twilio::twiml::say_then_hangup("Hi <there>");
        assert_eq!(
            parse(&xml),
            Some(vec![Verb::Say("Hi <there>".into()), Verb::Hangup])
        );
        assert_eq!(
            parse(&outcall_twilio::twiml::hangup()),
            Some(vec![Verb::Hangup])
        );
        assert_eq!(
            parse(r#"<Response><Pause length="2"/><Play>x</Play><Connect/></Response>"#),
            Some(vec![
                Verb::Pause(Duration::from_secs(2)),
                Verb::Other("Play".into()),
                Verb::Other("Connect".into()),
            ])
        );
        assert_eq!(parse(""), None);
        assert_eq!(parse("not xml"), None);
        assert_eq!(parse("<Other/>"), None);
    }
}
