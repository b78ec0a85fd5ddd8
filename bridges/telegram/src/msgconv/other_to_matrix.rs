//! Telegram messages that are neither text nor a file: locations become
//! `m.location`; contacts, polls and dice become text, and calls a notice.
//! Remote strings go into plain bodies only, so nothing needs escaping.

use causeway_core::remote::text_content;
use grammers_client::media::Media;
use grammers_client::tl;
use serde_json::{json, Value};

/// The Matrix content of a medium that is not a file; `None` for files
/// and for link previews, whose link is already in the text.
pub fn media_content(media: &Media) -> Option<Value> {
    match media {
        Media::Geo(geo) => Some(location("Location", geo.latitue(), geo.longitude())),
        Media::GeoLive(live) => live
            .geo
            .as_ref()
            .map(|geo| location("Live location", geo.latitue(), geo.longitude())),
        Media::Venue(venue) => {
            let label = format!("{}, {}", venue.title(), venue.address());
            match &venue.geo {
                Some(geo) => Some(location(&label, geo.latitue(), geo.longitude())),
                None => Some(text_content("m.text", &label, None)),
            }
        }
        Media::Contact(contact) => {
            let name = format!("{} {}", contact.first_name(), contact.last_name());
            let body = format!("Contact: {} ({})", name.trim(), contact.phone_number());
            Some(text_content("m.text", &body, None))
        }
        Media::Poll(poll) => Some(text_content("m.text", &poll_text(&poll.raw), None)),
        Media::Dice(dice) => {
            let body = format!("{} rolled {}", dice.emoji(), dice.value());
            Some(text_content("m.text", &body, None))
        }
        _ => None,
    }
}

fn location(label: &str, latitude: f64, longitude: f64) -> Value {
    json!({
        "msgtype": "m.location",
        "body": format!("{label}: {latitude:.6}, {longitude:.6}"),
        "geo_uri": format!("geo:{latitude:.6},{longitude:.6}"),
    })
}

fn poll_text(poll: &tl::types::Poll) -> String {
    let tl::enums::TextWithEntities::Entities(question) = &poll.question;
    let mut text = format!(
        "{}: {}",
        if poll.quiz { "Quiz" } else { "Poll" },
        question.text
    );
    for (n, answer) in poll.answers.iter().enumerate() {
        let answer = match answer {
            tl::enums::PollAnswer::Answer(a) => &a.text,
            tl::enums::PollAnswer::InputPollAnswer(a) => &a.text,
        };
        let tl::enums::TextWithEntities::Entities(option) = answer;
        text.push_str(&format!("\n{}. {}", n + 1, option.text));
    }
    text.push_str("\n(Vote in the Telegram app.)");
    text
}

/// A notice for a service message the room should see; `None` for the
/// rest, which chat info and membership already cover.
pub fn action_content(action: &tl::enums::MessageAction) -> Option<Value> {
    match action {
        tl::enums::MessageAction::PhoneCall(call) => {
            let kind = if call.video { "Video call" } else { "Call" };
            let body = match call.duration {
                Some(seconds) => format!("{kind} ended ({}:{:02})", seconds / 60, seconds % 60),
                None => format!("{kind} not answered"),
            };
            Some(text_content("m.notice", &body, None))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> tl::enums::TextWithEntities {
        tl::types::TextWithEntities {
            text: s.into(),
            entities: vec![],
        }
        .into()
    }

    #[test]
    fn a_poll_lists_its_question_and_numbered_answers() {
        let poll = tl::types::Poll {
            id: 1,
            closed: false,
            public_voters: false,
            multiple_choice: false,
            quiz: false,
            open_answers: false,
            revoting_disabled: false,
            shuffle_answers: false,
            hide_results_until_close: false,
            creator: false,
            subscribers_only: false,
            question: text("Lunch?"),
            answers: ["Pizza", "Soup"]
                .iter()
                .map(|a| {
                    tl::types::PollAnswer {
                        text: text(a),
                        option: vec![0],
                        media: None,
                        added_by: None,
                        date: None,
                    }
                    .into()
                })
                .collect(),
            close_period: None,
            close_date: None,
            countries_iso2: None,
            hash: 0,
        };
        assert_eq!(
            poll_text(&poll),
            "Poll: Lunch?\n1. Pizza\n2. Soup\n(Vote in the Telegram app.)"
        );
    }

    #[test]
    fn a_location_has_a_geo_uri() {
        let content = location("Location", 51.5, -0.12);
        assert_eq!(content["msgtype"], "m.location");
        assert_eq!(content["geo_uri"], "geo:51.500000,-0.120000");
    }

    #[test]
    fn a_missed_call_and_an_ended_call_are_told_apart() {
        let call = |duration| {
            tl::enums::MessageAction::PhoneCall(tl::types::MessageActionPhoneCall {
                video: false,
                call_id: 1,
                reason: None,
                duration,
            })
        };
        assert_eq!(
            action_content(&call(Some(75))).unwrap()["body"],
            "Call ended (1:15)"
        );
        assert_eq!(
            action_content(&call(None)).unwrap()["body"],
            "Call not answered"
        );
    }
}
