//! Conversation sentiment computed locally, for transcripts whose agent platform gave
//! none: VADER (a rule-based model with its lexicon built in, no network, no model
//! files) over what the *callee* said; the agent's own words say nothing about how the
//! call went for them.
//!
//! Each user turn is scored on its own (VADER is made for short, sentence-sized text)
//! and the conversation's score is the mean of the turns' compound scores, -1..1.
//! Labels follow VADER's convention: ≥ 0.05 positive, ≤ -0.05 negative, else neutral.

use std::sync::LazyLock;

use outcall_domain::transcript::{Role, Sentiment, SentimentLabel, Turn};
use vader_sentiment::SentimentIntensityAnalyzer;

static ANALYZER: LazyLock<SentimentIntensityAnalyzer<'static>> =
    LazyLock::new(SentimentIntensityAnalyzer::new);

/// The label of a compound score under VADER's thresholds.
pub fn label(score: f64) -> SentimentLabel {
    if score >= 0.05 {
        SentimentLabel::Positive
    } else if score <= -0.05 {
        SentimentLabel::Negative
    } else {
        SentimentLabel::Neutral
    }
}

/// The sentiment of the user's turns; `None` when the user said nothing scorable.
pub fn of_user_turns(turns: &[Turn]) -> Option<Sentiment> {
    let scores: Vec<f64> = turns
        .iter()
        .filter(|t| t.role == Role::User && !t.message.trim().is_empty())
        .filter_map(|t| compound(&t.message))
        .collect();
    if scores.is_empty() {
        return None;
    }
    let score = (scores.iter().sum::<f64>() / scores.len() as f64).clamp(-1.0, 1.0);
    Some(Sentiment {
        label: label(score),
        score,
    })
}

/// VADER's compound score of one utterance. The analyzer is third-party code fed with
/// what callers said: a panic in it costs this utterance its score, not the webhook.
fn compound(text: &str) -> Option<f64> {
    std::panic::catch_unwind(|| ANALYZER.polarity_scores(text).get("compound").copied())
        .ok()
        .flatten()
        .filter(|s| s.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(role: Role, message: &str) -> Turn {
        Turn::new(role, message, 0.0)
    }

    #[test]
    fn scores_only_what_the_user_said() {
        let happy = of_user_turns(&[
            turn(Role::Agent, "This is terrible, awful news, I hate it."),
            turn(Role::User, "That sounds great, thank you so much!"),
        ])
        .expect("a user turn");
        assert_eq!(happy.label, SentimentLabel::Positive);
        assert!(happy.score > 0.5, "{}", happy.score);

        let angry = of_user_turns(&[turn(Role::User, "No. This is awful, stop calling me.")])
            .expect("a user turn");
        assert_eq!(angry.label, SentimentLabel::Negative);

        let flat = of_user_turns(&[turn(Role::User, "It is on Tuesday.")]).expect("a turn");
        assert_eq!((flat.label, flat.score), (SentimentLabel::Neutral, 0.0));
    }

    #[test]
    fn no_user_words_no_sentiment() {
        assert_eq!(of_user_turns(&[]), None);
        assert_eq!(
            of_user_turns(&[turn(Role::Agent, "Great!"), turn(Role::User, "  ")]),
            None
        );
    }

    #[test]
    fn thresholds_are_vaders() {
        assert_eq!(label(0.05), SentimentLabel::Positive);
        assert_eq!(label(0.049), SentimentLabel::Neutral);
        assert_eq!(label(-0.049), SentimentLabel::Neutral);
        assert_eq!(label(-0.05), SentimentLabel::Negative);
    }
}
