//! The chat-token keys this node uses ([`TokenKeys`]): where they come from, how a rotation
//! reaches a running node, and the `rotate-token-key` command ([`rotate`]). The rules of
//! rotation (which key seals, which open, for how long) are `domain::key_ring`'s.
//!
//! Where the keys come from, first match wins:
//! * `--token-key` (and `--accept-token-key`): fixed for the life of the process; rotating is
//!   restarting with new values (README, "Rotating the chat-token key");
//! * a store shared by a cluster (PostgreSQL, table `chat_token_keys`);
//! * the key file `chat-token.key` in the data directory (the embedded default).
//!
//! A rotation is written to the store or the file by `ivschat-server rotate-token-key`; each
//! running node reads its source again every [`POLL_EVERY`], so it holds the new key well
//! before the key starts sealing (`key_ring::ACTIVATION_DELAY`), without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::domain::clock::{format_time_millis, Clock};
use crate::domain::key_ring::{plan_rotation, KeyRing, Rotation, StoredKey, NEVER};
use crate::domain::token::{random_key_hex, TokenClaims, TokenError};
use crate::store::{self, Store};

/// How often a node reads its keys again: a bound on how long a rotation takes to reach it.
pub const POLL_EVERY: Duration = Duration::from_secs(2);
/// The key file in the data directory.
pub const KEY_FILE: &str = "chat-token.key";

/// Where this node's keys come from (see the module documentation).
enum Source {
    Fixed,
    Store(Arc<dyn Store>),
    File(PathBuf),
}

/// The keys this node seals and opens chat tokens with, kept up to date with their source.
pub struct TokenKeys {
    ring: RwLock<Arc<KeyRing>>,
    /// What the ring was built from, to tell a change.
    loaded: Mutex<Vec<StoredKey>>,
    source: Source,
    clock: Clock,
    region: String,
    account_id: String,
    /// Counts the changes of the ring (tests wait on it).
    changes: watch::Sender<u64>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

impl TokenKeys {
    /// Loads the keys `config` says (creating the first key if there is none yet).
    pub async fn load(
        config: &Config,
        store: Arc<dyn Store>,
        clock: Clock,
    ) -> anyhow::Result<TokenKeys> {
        let (source, keys) = if let Some(key) = &config.token_key {
            (Source::Fixed, fixed_keys(key.expose(), config)?)
        } else if let Some(keys) = store
            .token_keys(&random_key_hex())
            .await
            .context("reading the cluster's chat-token keys from the store")?
        {
            (Source::Store(store), keys)
        } else {
            let path = config.data_dir.join(KEY_FILE);
            let keys = load_key_file(&path)?;
            (Source::File(path), keys)
        };
        let ring = KeyRing::new(&keys, &config.region, &config.account_id)
            .context("the chat-token keys")?;
        Ok(TokenKeys {
            ring: RwLock::new(Arc::new(ring)),
            loaded: Mutex::new(keys),
            source,
            clock,
            region: config.region.clone(),
            account_id: config.account_id.clone(),
            changes: watch::Sender::new(0),
        })
    }

    fn ring(&self) -> Arc<KeyRing> {
        self.ring.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Seals `claims` with the key that seals now.
    pub fn seal(&self, claims: &TokenClaims) -> String {
        self.ring().seal(claims, self.clock.now_micros())
    }

    /// Opens a token sealed with any key not retired now.
    pub fn open(&self, token: &str) -> Result<TokenClaims, TokenError> {
        self.ring().open(token, self.clock.now_micros())
    }

    /// The generation that seals now.
    pub fn sealing_generation(&self) -> i64 {
        self.ring().sealing_generation(self.clock.now_micros())
    }

    /// Fires each time the keys change.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Reads the source again and uses what it holds now; true if that changed anything.
    pub async fn reload(&self) -> anyhow::Result<bool> {
        let keys = match &self.source {
            Source::Fixed => return Ok(false),
            Source::Store(store) => store
                .token_keys(&random_key_hex())
                .await
                .context("reading the cluster's chat-token keys")?
                .unwrap_or_default(),
            Source::File(path) => read_key_file(path)?,
        };
        if *self.loaded.lock().unwrap_or_else(|e| e.into_inner()) == keys {
            return Ok(false);
        }
        let ring =
            KeyRing::new(&keys, &self.region, &self.account_id).context("the chat-token keys")?;
        if let Some(newest) = keys.iter().max_by_key(|k| k.generation) {
            tracing::info!(
                generation = newest.generation,
                seals_from = %format_time_millis(newest.activate_micros),
                "chat-token keys changed (a rotation): the new key opens tokens now and seals them from the time given"
            );
        }
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
        *self.loaded.lock().unwrap_or_else(|e| e.into_inner()) = keys;
        self.changes.send_modify(|n| *n += 1);
        Ok(true)
    }

    /// Reloads every [`POLL_EVERY`] until `stop`. A source that cannot be read is tried again
    /// at the next poll; the keys held meanwhile stay in use.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        if matches!(self.source, Source::Fixed) {
            return;
        }
        let mut tick = tokio::time::interval(POLL_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let reloaded = tokio::select! {
                _ = stop.cancelled() => return,
                reloaded = self.reload() => reloaded,
            };
            match reloaded {
                Ok(_) => failing = false,
                // Once per failure streak: the store's own outage is reported by `/ready`.
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(error = %format!("{e:#}"), "cannot read the chat-token keys; keeping the ones held");
                }
                Err(_) => {}
            }
        }
    }
}

/// `--token-key`, plus `--accept-token-key` as a key that opens tokens and never seals one.
fn fixed_keys(key_hex: &str, config: &Config) -> anyhow::Result<Vec<StoredKey>> {
    let mut keys = vec![StoredKey::first(key_hex.trim().to_string())];
    if let Some(accepted) = &config.accept_token_key {
        keys.push(StoredKey {
            generation: 2,
            key_hex: accepted.expose().trim().to_string(),
            activate_micros: NEVER,
            retire_micros: None,
        });
    }
    // Checked here so a bad flag stops the start with its name.
    KeyRing::new(&keys, &config.region, &config.account_id)
        .context("--token-key / --accept-token-key")?;
    Ok(keys)
}

/// `ivschat-server rotate-token-key`: adds a new key to the store `config` names (PostgreSQL)
/// or to the data directory's key file; running nodes pick it up within [`POLL_EVERY`].
pub async fn rotate(config: &Config) -> anyhow::Result<Rotation> {
    if config.token_key.is_some() {
        bail!(
            "--token-key (IVSCHAT_TOKEN_KEY) is set: nodes started with it use that key and \
             ignore stored ones. Rotate by restarting with --token-key NEW --accept-token-key OLD \
             (README, \"Rotating the chat-token key\"), or run this without it"
        );
    }
    let now = Clock::system().now_micros();
    if config.database_url.is_some() {
        let store = store::open(config).await?;
        if let Some(rotation) = store
            .rotate_token_key(&random_key_hex(), now)
            .await
            .context("rotating the cluster's chat-token key")?
        {
            return Ok(rotation);
        }
    }
    rotate_key_file(&config.data_dir.join(KEY_FILE), now)
}

/// Rotates the keys of a key file (created first if missing).
fn rotate_key_file(path: &Path, now: i64) -> anyhow::Result<Rotation> {
    let keys = load_key_file(path)?;
    let rotation = plan_rotation(&keys, random_key_hex(), now);
    write_key_file(path, &rotation.keys)?;
    Ok(rotation)
}

/// The key file's keys; a new file with one new key if there is none.
fn load_key_file(path: &Path) -> anyhow::Result<Vec<StoredKey>> {
    if !path.exists() {
        let keys = vec![StoredKey::first(random_key_hex())];
        write_key_file(path, &keys)?;
        return Ok(keys);
    }
    read_key_file(path)
}

fn read_key_file(path: &Path) -> anyhow::Result<Vec<StoredKey>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_key_file(&text).with_context(|| format!("reading {}", path.display()))
}

/// One key per line: `<generation> <64 hex> <seals from> <retired at, or ->` (times in µs since
/// the epoch). A line of 64 hex characters alone, as releases before rotation wrote, is the
/// first generation.
fn parse_key_file(text: &str) -> anyhow::Result<Vec<StoredKey>> {
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let key = match fields[..] {
            [key_hex] => StoredKey::first(key_hex.to_string()),
            [generation, key_hex, activate, retire] => StoredKey {
                generation: generation.parse().context("a key's generation")?,
                key_hex: key_hex.to_string(),
                activate_micros: activate.parse().context("a key's activation time")?,
                retire_micros: match retire {
                    "-" => None,
                    retire => Some(retire.parse().context("a key's retirement time")?),
                },
            },
            _ => bail!("a line is not `<generation> <key> <seals from> <retired at or ->`"),
        };
        keys.push(key);
    }
    if keys.is_empty() {
        bail!("it holds no key");
    }
    // Malformed keys are refused here, with the file's name, rather than at first use.
    KeyRing::new(&keys, "", "")?;
    Ok(keys)
}

fn format_key_file(keys: &[StoredKey]) -> String {
    // Never rotated: the bare key, as releases before rotation wrote and still read.
    if let [only] = keys {
        if *only == StoredKey::first(only.key_hex.clone()) {
            return format!("{}\n", only.key_hex);
        }
    }
    let mut text = String::from(
        "# Chat-token keys (README, \"Rotating the chat-token key\"): one per line,\n\
         # <generation> <key> <seals from, µs since the epoch> <opens nothing from, or ->.\n\
         # Change them with `ivschat-server rotate-token-key`. Whoever reads this can mint chat tokens.\n",
    );
    for key in keys {
        let retire = key
            .retire_micros
            .map_or_else(|| "-".to_string(), |r| r.to_string());
        text.push_str(&format!(
            "{} {} {} {retire}\n",
            key.generation, key.key_hex, key.activate_micros
        ));
    }
    text
}

fn write_key_file(path: &Path, keys: &[StoredKey]) -> anyhow::Result<()> {
    // The data directory may not exist yet (issue 18).
    if let Some(dir) = path.parent() {
        crate::private_files::create_dir_all(dir)
            .with_context(|| format!("creating directory {}", dir.display()))?;
    }
    write_private_file(path, format_key_file(keys).as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes a file only its owner can read, atomically (temp file + rename) and durably: a node
/// polling it reads the old keys or the new ones, never half of a file.
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::key_ring::{ACTIVATION_DELAY, OVERLAP};
    use crate::domain::token::TokenKey;
    use ivschat_proto::control::ChatTokenCapability;

    fn claims() -> TokenClaims {
        TokenClaims {
            room: "g1H2I3j4k5L6".into(),
            account: String::new(),
            user_id: "u".into(),
            capabilities: vec![ChatTokenCapability::SendMessage],
            attributes: Default::default(),
            token_expires: i64::MAX,
            session_expires: i64::MAX,
            token_id: "abc".into(),
        }
    }

    async fn keys_in(dir: &Path, clock: &Clock) -> TokenKeys {
        let config = Config::for_tests(dir);
        let store = store::open(&config).await.unwrap();
        TokenKeys::load(&config, store, clock.clone())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("node-2").join("nested");
        let clock = Clock::system();
        let a = keys_in(&data_dir, &clock).await;
        let b = keys_in(&data_dir, &clock).await;
        assert_eq!(b.open(&a.seal(&claims())).unwrap(), claims());
    }

    /// A key file written before rotation existed (64 hex characters) still opens.
    #[tokio::test]
    async fn a_key_file_of_one_bare_key_is_generation_one() {
        let dir = tempfile::tempdir().unwrap();
        let key = random_key_hex();
        std::fs::write(dir.path().join(KEY_FILE), format!("{key}\n")).unwrap();
        let keys = keys_in(dir.path(), &Clock::system()).await;
        let config = Config::for_tests(dir.path());
        let old = TokenKey::from_hex(&key, &config.region, &config.account_id).unwrap();
        assert_eq!(keys.open(&old.seal(&claims())).unwrap(), claims());
        assert_eq!(keys.sealing_generation(), 1);
    }

    /// A key that cannot be written says where and why.
    #[tokio::test]
    async fn key_file_errors_carry_their_cause() {
        let dir = tempfile::tempdir().unwrap();
        let not_a_dir = dir.path().join("file");
        std::fs::write(&not_a_dir, b"x").unwrap();
        let error = load_key_file(&not_a_dir.join("data").join(KEY_FILE)).unwrap_err();
        let text = format!("{error:#}");
        assert!(text.contains(&not_a_dir.display().to_string()), "{text}");
        assert!(text.contains("os error"), "{text}");
        std::fs::write(dir.path().join(KEY_FILE), "1 zz 0 -\n").unwrap();
        let error = read_key_file(&dir.path().join(KEY_FILE)).unwrap_err();
        assert!(format!("{error:#}").contains("hexadecimal"), "{error:#}");
    }

    /// The embedded default: a rotation written to the key file reaches the running node at
    /// its next reload; the old key opens through the overlap and not after it.
    #[tokio::test]
    async fn a_rotated_key_file_is_picked_up_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::system();
        let keys = keys_in(dir.path(), &clock).await;
        let before = keys.seal(&claims());
        assert!(!keys.reload().await.unwrap());

        let mut config = Config::for_tests(dir.path());
        let rotation = rotate(&config).await.unwrap();
        assert_eq!(rotation.added.generation, 2);
        assert!(keys.reload().await.unwrap());
        assert_eq!(keys.open(&before).unwrap(), claims());
        assert_eq!(keys.sealing_generation(), 1);
        clock.advance(ACTIVATION_DELAY);
        assert_eq!(keys.sealing_generation(), 2);
        let after = keys.seal(&claims());
        let new_key =
            TokenKey::from_hex(&rotation.added.key_hex, &config.region, &config.account_id)
                .unwrap();
        assert_eq!(new_key.open(&after).unwrap(), claims());
        clock.advance(OVERLAP);
        assert_eq!(keys.open(&before), Err(TokenError::Invalid));
        assert_eq!(keys.open(&after).unwrap(), claims());

        // With --token-key the command refuses: nodes would ignore what it writes.
        config.token_key = Some(crate::config::Secret::new(random_key_hex()));
        assert!(rotate(&config).await.is_err());
    }

    #[test]
    fn the_key_file_round_trips() {
        let first = [StoredKey::first(random_key_hex())];
        // A key never rotated is written as earlier releases wrote it, so they can still read it.
        assert_eq!(format_key_file(&first), format!("{}\n", first[0].key_hex));
        assert_eq!(parse_key_file(&format_key_file(&first)).unwrap(), first);
        let keys = plan_rotation(&first, random_key_hex(), 7).keys;
        assert_eq!(parse_key_file(&format_key_file(&keys)).unwrap(), keys);
        assert!(parse_key_file("# nothing\n").is_err());
        assert!(parse_key_file("1 2 3\n").is_err());
    }

    #[tokio::test]
    async fn an_accepted_key_opens_and_never_seals() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::for_tests(dir.path());
        let (sealing, accepted) = (random_key_hex(), random_key_hex());
        config.token_key = Some(crate::config::Secret::new(sealing.clone()));
        config.accept_token_key = Some(crate::config::Secret::new(accepted.clone()));
        let store = store::open(&config).await.unwrap();
        let keys = TokenKeys::load(&config, store, Clock::system())
            .await
            .unwrap();
        let key = |hex: &str| TokenKey::from_hex(hex, &config.region, &config.account_id).unwrap();
        assert_eq!(
            keys.open(&key(&accepted).seal(&claims())).unwrap(),
            claims()
        );
        assert_eq!(key(&sealing).open(&keys.seal(&claims())).unwrap(), claims());
        config.accept_token_key = Some(crate::config::Secret::new("zz"));
        let store = store::open(&config).await.unwrap();
        let error = TokenKeys::load(&config, store, Clock::system())
            .await
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("--accept-token-key"),
            "{error:#}"
        );
    }
}
