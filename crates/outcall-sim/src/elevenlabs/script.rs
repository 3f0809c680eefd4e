//! What the simulated agent says and hears, and how fast: the scripted lines of
//! a conversation and the timings of speech, turns and keep-alive pings.

use std::collections::BTreeMap;
use std::time::Duration;

use outcall_elevenlabs::convai::{ConversationInitiationClientData, DynamicValue};

/// The lines of a simulated conversation. The agent speaks `agent_lines[0]`
/// (or the client's `first_message` override) first; then each user turn
/// (`user_lines[i]`, heard after enough user audio) is answered with the next
/// agent line. After the last agent line the agent ends the conversation.
/// `{{name}}` in an agent line is replaced by the dynamic variable `name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentScript {
    pub agent_lines: Vec<String>,
    /// When the user speaks more turns than listed, the user says "Mm-hmm.".
    pub user_lines: Vec<String>,
    /// The agent turn (0 = the first message) cut half-way by an
    /// `interruption` event, as when the callee talks over the agent.
    pub interrupt_after_turn: Option<usize>,
}

impl Default for AgentScript {
    /// A short three-turn sales call.
    fn default() -> Self {
        Self {
            agent_lines: vec![
                "Hi, this is Alex from Brightline Solar. Do you have a minute to talk about \
                 lowering your energy bill?"
                    .into(),
                "Great. We install panels with no upfront cost, and most homeowners save about \
                 twenty percent. Would a free home assessment interest you?"
                    .into(),
                "Wonderful, a specialist will call you to schedule it. Thanks for your time, \
                 goodbye!"
                    .into(),
            ],
            user_lines: vec![
                "Sure, I have a minute.".into(),
                "Yes, that sounds interesting.".into(),
            ],
            interrupt_after_turn: None,
        }
    }
}

/// What the user says when the script has no more user lines.
const FILLER: &str = "Mm-hmm.";

impl AgentScript {
    /// The agent's lines for one conversation: the `first_message` override
    /// replaces the first line, and dynamic variables are substituted.
    pub(super) fn agent_lines_for(&self, data: &ConversationInitiationClientData) -> Vec<String> {
        let mut lines = self.agent_lines.clone();
        if let Some(first) = data.first_message() {
            match lines.first_mut() {
                Some(line) => *line = first.to_owned(),
                None => lines.push(first.to_owned()),
            }
        }
        lines
            .iter()
            .map(|line| substitute(line, &data.dynamic_variables))
            .collect()
    }

    /// The user's line of turn `i`.
    pub(super) fn user_line(&self, i: usize) -> &str {
        self.user_lines.get(i).map(String::as_str).unwrap_or(FILLER)
    }
}

/// Replaces each `{{name}}` by the value of the dynamic variable `name`.
fn substitute(line: &str, variables: &BTreeMap<String, DynamicValue>) -> String {
    let mut out = line.to_owned();
    for (name, value) in variables {
        let text = match value {
            DynamicValue::String(s) => s.clone(),
            DynamicValue::Number(n) => n.to_string(),
            DynamicValue::Bool(b) => b.to_string(),
        };
        out = out.replace(&format!("{{{{{name}}}}}"), &text);
    }
    out
}

/// Timings of a simulated agent. The default is realistic for a demo (agent
/// audio in real time); [`AgentTimings::fast`] shrinks everything for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentTimings {
    /// User audio frames (20 ms each) the agent waits for, after it stops
    /// speaking, before it "hears" the user's next line and answers.
    pub user_turn_frames: u32,
    /// Interval between `ping` events.
    pub ping_every: Duration,
    /// How long a ping may go unanswered before the agent hangs up.
    pub pong_timeout: Duration,
    /// Audio length per character of an agent line.
    pub speech_per_char: Duration,
    /// Pause between two 20 ms audio events (20 ms: real time; zero: a burst).
    pub frame_interval: Duration,
    /// How long the agent waits after its last line before closing.
    pub end_grace: Duration,
    /// How long a signed URL may be used to start a conversation.
    pub signed_url_ttl: Duration,
}

impl Default for AgentTimings {
    fn default() -> Self {
        Self {
            user_turn_frames: 50,
            ping_every: Duration::from_secs(2),
            pong_timeout: Duration::from_secs(5),
            speech_per_char: Duration::from_millis(60),
            frame_interval: Duration::from_millis(20),
            end_grace: Duration::from_millis(500),
            signed_url_ttl: Duration::from_secs(15 * 60),
        }
    }
}

impl AgentTimings {
    /// Tens of milliseconds per turn, for tests.
    pub fn fast() -> Self {
        Self {
            user_turn_frames: 5,
            ping_every: Duration::from_millis(50),
            pong_timeout: Duration::from_millis(300),
            speech_per_char: Duration::from_micros(500),
            frame_interval: Duration::from_millis(5),
            end_grace: Duration::from_millis(10),
            signed_url_ttl: Duration::from_secs(15 * 60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_message_override_and_variables() {
        let script = AgentScript {
            agent_lines: vec!["Hi.".into(), "Bye {{name}}, {{n}} {{vip}}.".into()],
            ..AgentScript::default()
        };
        let data = ConversationInitiationClientData::new()
            .with_first_message("Hello {{name}}!")
            .with_variable("name", "Ada")
            .with_variable("n", 2_i64)
            .with_variable("vip", true);
        assert_eq!(
            script.agent_lines_for(&data),
            vec!["Hello Ada!".to_owned(), "Bye Ada, 2 true.".to_owned()]
        );
        let plain = ConversationInitiationClientData::new();
        assert_eq!(script.agent_lines_for(&plain)[0], "Hi.");
        let empty = AgentScript {
            agent_lines: vec![],
            ..AgentScript::default()
        };
        assert_eq!(empty.agent_lines_for(&plain), Vec::<String>::new());
        assert_eq!(empty.agent_lines_for(&data), vec!["Hello Ada!".to_owned()]);
        assert_eq!(script.user_line(0), "Sure, I have a minute.");
        assert_eq!(script.user_line(9), FILLER);
    }
}
