//! What a call plays: the dial plan's verbs in order, each `repeat` + 1 times, with
//! 500 ms of silence between plays (spec: voice-sip §2), and how speech is made: the
//! TTS command (espeak-ng by default) with a voice for each of the fourteen languages and
//! both genders.

/// One verb of a dial plan, as the media layer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Say {
        text: String,
        language: String,
        female: bool,
        repeat: u8,
    },
    Play {
        url: String,
        repeat: u8,
    },
}

/// A piece of the call's audio, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Speech from the TTS command with this voice.
    Speech { text: String, voice: String },
    /// A WAV fetched over http(s).
    File { url: String },
    /// Silence, milliseconds.
    Silence { ms: u32 },
}

/// Silence between two plays.
pub const GAP_MS: u32 = 500;

/// The segments of a dial plan. A language espeak-ng does not know is refused by name.
///
/// # Errors
/// The first language without a voice.
pub fn plan(verbs: &[Verb]) -> Result<Vec<Segment>, String> {
    let mut out = Vec::new();
    for verb in verbs {
        let (segment, repeat) = match verb {
            Verb::Say {
                text,
                language,
                female,
                repeat,
            } => (
                Segment::Speech {
                    text: text.clone(),
                    voice: espeak_voice(language, *female)
                        .ok_or_else(|| format!("no voice for language {language}"))?,
                },
                *repeat,
            ),
            Verb::Play { url, repeat } => (Segment::File { url: url.clone() }, *repeat),
        };
        for _ in 0..=repeat {
            if !out.is_empty() {
                out.push(Segment::Silence { ms: GAP_MS });
            }
            out.push(segment.clone());
        }
    }
    Ok(out)
}

/// The espeak-ng voice for an API language and gender (`en-us+f3`, `el+m3`).
pub fn espeak_voice(language: &str, female: bool) -> Option<String> {
    let base = match language {
        "en-US" => "en-us",
        "en-GB" => "en-gb",
        "de-DE" => "de",
        "fr-FR" => "fr-fr",
        "it-IT" => "it",
        "pt-BR" => "pt-br",
        "es-ES" => "es",
        "es-LA" => "es-419",
        "el-GR" => "el",
        "bg-BG" => "bg",
        "pl-PL" => "pl",
        "hu-HU" => "hu",
        "sv-SE" => "sv",
        "ru-RU" => "ru",
        _ => return None,
    };
    Some(format!("{base}+{}", if female { "f3" } else { "m3" }))
}

/// The default TTS command: speech as a WAV on stdout.
pub const DEFAULT_TTS_COMMAND: &str = "espeak-ng -v {voice} -f {text_file} --stdout";

/// The words of a `tts_command` template for one utterance: split like a command line
/// (whitespace separates, single and double quotes group, a backslash escapes the next
/// character; no shell), with `{voice}` and `{text_file}` replaced in every word.
///
/// # Errors
/// An empty template or an unterminated quote.
pub fn command_args(template: &str, voice: &str, text_file: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, '\\') | (Some('"'), '\\') => {
                let next = chars.next().ok_or("a backslash ends the command")?;
                word.push(next);
                in_word = true;
            }
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("an unterminated quote in the command".into());
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("an empty command".into());
    }
    Ok(words
        .into_iter()
        .map(|w| {
            w.replace("{voice}", voice)
                .replace("{text_file}", text_file)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_play_in_order_repeat_plus_one_times_with_gaps() {
        let verbs = [
            Verb::Say {
                text: "Your code is 1 2 3".into(),
                language: "el-GR".into(),
                female: true,
                repeat: 1,
            },
            Verb::Play {
                url: "https://example.com/beep.wav".into(),
                repeat: 0,
            },
        ];
        let speech = Segment::Speech {
            text: "Your code is 1 2 3".into(),
            voice: "el+f3".into(),
        };
        assert_eq!(
            plan(&verbs).unwrap(),
            vec![
                speech.clone(),
                Segment::Silence { ms: 500 },
                speech,
                Segment::Silence { ms: 500 },
                Segment::File {
                    url: "https://example.com/beep.wav".into()
                },
            ]
        );
    }

    #[test]
    fn every_api_language_has_both_voices_and_others_are_refused() {
        for lang in [
            "en-US", "en-GB", "de-DE", "fr-FR", "it-IT", "pt-BR", "es-ES", "es-LA", "el-GR",
            "bg-BG", "pl-PL", "hu-HU", "sv-SE", "ru-RU",
        ] {
            let (f, m) = (
                espeak_voice(lang, true).unwrap(),
                espeak_voice(lang, false).unwrap(),
            );
            assert!(f.ends_with("+f3") && m.ends_with("+m3") && f != m, "{lang}");
        }
        let klingon = [Verb::Say {
            text: "x".into(),
            language: "tlh".into(),
            female: false,
            repeat: 0,
        }];
        assert_eq!(plan(&klingon), Err("no voice for language tlh".into()));
    }

    #[test]
    fn the_command_template_splits_like_a_command_line() {
        assert_eq!(
            command_args(DEFAULT_TTS_COMMAND, "en-us+f3", "/tmp/t.txt").unwrap(),
            [
                "espeak-ng",
                "-v",
                "en-us+f3",
                "-f",
                "/tmp/t.txt",
                "--stdout"
            ]
        );
        assert_eq!(
            command_args(
                r#"my-tts --voice={voice} "--in" '{text_file}' a\ b"#,
                "v",
                "f"
            )
            .unwrap(),
            ["my-tts", "--voice=v", "--in", "f", "a b"]
        );
        assert_eq!(
            command_args("tts $(rm -rf /) ;", "v", "f").unwrap(),
            ["tts", "$(rm", "-rf", "/)", ";"],
            "no shell: metacharacters are plain words"
        );
        assert!(command_args("   ", "v", "f").is_err());
        assert!(command_args("tts 'open", "v", "f").is_err());
    }
}
