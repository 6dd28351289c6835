//! Speech for SAY verbs: the `tts_command` (espeak-ng by default) run as a subprocess —
//! never a shell, never linked — once per (text, voice); its WAV on stdout read,
//! resampled to 8 kHz and kept in a bounded cache.

use std::sync::Arc;
use std::time::Duration;

use cascade_media::playback::command_args;
use cascade_media::{SAMPLE_RATE, resample, wav};
use tokio::io::AsyncReadExt;

/// How long one utterance may take to synthesise.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why speech could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TtsError {
    #[error("TTS command: {0}")]
    Command(String),
    #[error("TTS command failed: {0}")]
    Failed(String),
    #[error("TTS output: {0}")]
    Output(String),
}

/// Makes 8 kHz speech with a command template; see the module documentation.
#[derive(Debug)]
pub struct Tts {
    template: String,
    cache: super::AudioCache<(String, String)>,
}

impl Tts {
    /// # Errors
    /// When the template cannot be split into a command.
    pub fn new(template: &str) -> Result<Tts, TtsError> {
        command_args(template, "v", "f").map_err(TtsError::Command)?;
        Ok(Tts {
            template: template.to_owned(),
            cache: super::AudioCache::new(),
        })
    }

    /// `text` spoken with `voice`, as 8 kHz mono samples; from the cache when it was
    /// made before.
    ///
    /// # Errors
    /// See [`TtsError`].
    pub async fn speak(&self, text: &str, voice: &str) -> Result<Arc<Vec<i16>>, TtsError> {
        let key = (text.to_owned(), voice.to_owned());
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit);
        }
        let samples = Arc::new(self.synthesise(text, voice).await?);
        self.cache.put(key, Arc::clone(&samples));
        Ok(samples)
    }

    async fn synthesise(&self, text: &str, voice: &str) -> Result<Vec<i16>, TtsError> {
        let dir = tempfile::tempdir().map_err(|e| TtsError::Command(e.to_string()))?;
        let text_file = dir.path().join("text.txt");
        std::fs::write(&text_file, text).map_err(|e| TtsError::Command(e.to_string()))?;
        let args = command_args(&self.template, voice, &text_file.display().to_string())
            .map_err(TtsError::Command)?;
        let mut child = tokio::process::Command::new(&args[0])
            .args(&args[1..])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TtsError::Command(format!("{}: {e}", args[0])))?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| TtsError::Failed("no stdout".into()))?;
        let run = async {
            let mut out = Vec::new();
            stdout
                .read_to_end(&mut out)
                .await
                .map_err(|e| TtsError::Failed(e.to_string()))?;
            let status = child
                .wait()
                .await
                .map_err(|e| TtsError::Failed(e.to_string()))?;
            Ok::<_, TtsError>((status, out))
        };
        let (status, out) = tokio::time::timeout(TIMEOUT, run)
            .await
            .map_err(|_| TtsError::Failed(format!("no result within {TIMEOUT:?}")))??;
        if !status.success() {
            return Err(TtsError::Failed(format!(
                "{} exited with {status}",
                args[0]
            )));
        }
        // Off the async workers: resampling is CPU work, and they pace RTP.
        tokio::task::spawn_blocking(move || {
            let audio = wav::read(&out).map_err(|e| TtsError::Output(e.to_string()))?;
            Ok(resample::resample(&audio.samples, audio.rate, SAMPLE_RATE))
        })
        .await
        .map_err(|e| TtsError::Failed(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TTS command of our own (Python's `wave`): a 22.05 kHz tone whose length is the
    /// text's length in tenths of a second, so the test can tell utterances apart.
    fn fake_tts(dir: &std::path::Path) -> String {
        let script = dir.join("fake_tts.py");
        std::fs::write(
            &script,
            r#"import math, struct, sys, wave
voice, text_file = sys.argv[1], sys.argv[2]
text = open(text_file).read()
if voice == "fail":
    sys.exit(3)
rate = 22050
n = rate * len(text) // 10
w = wave.open(sys.stdout.buffer, "wb")
w.setnchannels(1); w.setsampwidth(2); w.setframerate(rate)
w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(n)))
"#,
        )
        .unwrap();
        format!("python3 {} {{voice}} {{text_file}}", script.display())
    }

    #[tokio::test]
    async fn speech_is_made_once_per_text_and_voice_at_8_khz() {
        let dir = tempfile::tempdir().unwrap();
        let tts = Tts::new(&fake_tts(dir.path())).unwrap();
        let hello = tts.speak("Hello", "en-us+f3").await.unwrap();
        assert_eq!(hello.len(), 4000, "0.5 s at 8 kHz");
        let again = tts.speak("Hello", "en-us+f3").await.unwrap();
        assert!(Arc::ptr_eq(&hello, &again), "from the cache");
        let other = tts.speak("Hello", "en-us+m3").await.unwrap();
        assert!(
            !Arc::ptr_eq(&hello, &other),
            "another voice is another utterance"
        );
        let longer = tts.speak("Hello again", "en-us+f3").await.unwrap();
        assert_eq!(longer.len(), 8800);
    }

    #[tokio::test]
    async fn a_failing_or_missing_command_is_an_error_not_silence() {
        let dir = tempfile::tempdir().unwrap();
        let tts = Tts::new(&fake_tts(dir.path())).unwrap();
        assert!(matches!(
            tts.speak("x", "fail").await,
            Err(TtsError::Failed(_))
        ));
        let missing = Tts::new("no-such-tts-command-here {text_file}").unwrap();
        assert!(matches!(
            missing.speak("x", "v").await,
            Err(TtsError::Command(_))
        ));
        let not_wav = Tts::new("echo {voice}").unwrap();
        assert!(matches!(
            not_wav.speak("x", "v").await,
            Err(TtsError::Output(_))
        ));
        assert!(matches!(Tts::new("  "), Err(TtsError::Command(_))));
    }
}
