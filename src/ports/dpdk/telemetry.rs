//! Commands of one's own in DPDK's telemetry library, beside `/ethdev/stats`:
//! any client of the telemetry socket (`dpdk-telemetry.py`) can call them.
//!
//! [`register`] adds a command whose answer a handler gives: an [`Answer`],
//! a dictionary of integers or an array of them. Telemetry callbacks take no
//! user data and run on DPDK's telemetry thread, so one C callback looks the
//! handler up by the command's name. A handler should answer from a value
//! it can read at once (the latest statistics its owner published): it must
//! never wait for a data path.
//!
//! Telemetry has no floating-point values in DPDK 22.11, and dictionary keys
//! may only hold letters, digits, `_` and `/`: [`key`] makes any text a key,
//! and every key is passed through it before DPDK sees it.

use super::error::{DpdkError, Errno};
use dpdk_sys as sys;
use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::{Arc, Mutex};

/// What a command answers: a dictionary of integers or an array of them.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    Dict(Vec<(String, u64)>),
    Array(Vec<u64>),
}

/// A command's handler: its parameters (text after the comma, maybe empty)
/// in, the answer out; None for bad parameters.
type Handler = dyn Fn(&str) -> Option<Answer> + Send + Sync;

/// Registered commands -> their handlers.
static HANDLERS: Mutex<BTreeMap<String, Arc<Handler>>> = Mutex::new(BTreeMap::new());

fn handler(cmd: &str) -> Option<Arc<Handler>> {
    let g = HANDLERS.lock().unwrap_or_else(|p| p.into_inner());
    g.get(cmd).cloned()
}

/// A telemetry dictionary key: letters, digits, `_` and `/` only.
pub fn key(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '/' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Most entries a telemetry dictionary holds (`RTE_TEL_MAX_DICT_ENTRIES`).
pub const MAX_DICT_ENTRIES: usize = sys::RTE_TEL_MAX_DICT_ENTRIES as usize;
/// Longest key telemetry keeps (`RTE_TEL_MAX_STRING_LEN` with its NUL); it
/// cuts longer ones.
const MAX_KEY_LEN: usize = sys::RTE_TEL_MAX_STRING_LEN as usize - 1;
/// Bytes of JSON a dictionary's entries may take. Telemetry writes a reply
/// into 16 KiB and leaves out, without a word, every entry that no longer
/// fits; 128 bytes are kept for the command's name around the entries.
const MAX_DICT_JSON: usize = 16 * 1024 - 128;
/// The key of a dictionary's last entry when not all of its entries fit:
/// its value is how many were left out.
pub const TRUNCATED: &str = "truncated";

/// Decimal digits of `v`.
fn digits(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// The entries of a dictionary answer as telemetry will hold them: keys made
/// telemetry-safe and at most 127 bytes long (`RTE_TEL_MAX_STRING_LEN`);
/// when the entries exceed telemetry's [`MAX_DICT_ENTRIES`] or its reply
/// size, the first ones that fit and then [`TRUNCATED`] with the number left
/// out, never a silent cut.
pub fn fit_dict(entries: Vec<(String, u64)>) -> Vec<(String, u64)> {
    let n = entries.len();
    // `,"key":value` (the first entry's comma is the closing brace's room).
    let cost = |k: &str, v: u64| k.len() + digits(v) + 4;
    let reserve = cost(TRUNCATED, u64::MAX);
    let mut out = Vec::with_capacity(n.min(MAX_DICT_ENTRIES));
    let mut used = 0;
    for (i, (k, v)) in entries.into_iter().enumerate() {
        let mut k = key(&k);
        // key() leaves only ASCII, so any length is a character boundary.
        k.truncate(MAX_KEY_LEN);
        let c = cost(&k, v);
        // The last entry needs no room left for the marker after it.
        let (max_entries, max_bytes) = if i + 1 == n {
            (MAX_DICT_ENTRIES, MAX_DICT_JSON)
        } else {
            (MAX_DICT_ENTRIES - 1, MAX_DICT_JSON - reserve)
        };
        if out.len() >= max_entries || used + c > max_bytes {
            let omitted = (n - out.len()) as u64;
            out.push((TRUNCATED.to_string(), omitted));
            break;
        }
        used += c;
        out.push((k, v));
    }
    out
}

/// Registers `cmd` (such as `/natrix/stats`) with its help text and handler.
/// Registering a command again replaces its handler.
pub fn register(
    cmd: &'static CStr,
    help: &'static CStr,
    answer: impl Fn(&str) -> Option<Answer> + Send + Sync + 'static,
) -> Result<(), DpdkError> {
    let name = cmd.to_string_lossy().into_owned();
    let mut handlers = HANDLERS.lock().unwrap_or_else(|p| p.into_inner());
    if !handlers.contains_key(&name) {
        // SAFETY: both strings are 'static and NUL-terminated; `callback`
        // has the telemetry_cb signature and never unwinds.
        let rc =
            unsafe { sys::rte_telemetry_register_cmd(cmd.as_ptr(), Some(callback), help.as_ptr()) };
        if rc < 0 {
            return Err(DpdkError::TelemetryRegister {
                command: name,
                errno: Errno(-rc),
            });
        }
    }
    handlers.insert(name, Arc::new(answer));
    Ok(())
}

/// Fills `info` with the answer; negative on error (telemetry then answers
/// null for the command).
///
/// # Safety
/// `info` is the data structure telemetry passed to the callback.
unsafe fn fill(answer: Answer, info: *mut sys::rte_tel_data) -> c_int {
    match answer {
        Answer::Dict(entries) => {
            // SAFETY: `info` is valid for the callback (the caller's promise).
            let rc = unsafe { sys::rte_tel_data_start_dict(info) };
            if rc < 0 {
                return rc;
            }
            for (k, v) in fit_dict(entries) {
                // fit_dict's keys hold no NUL.
                let Ok(name) = CString::new(k) else {
                    return -libc::EINVAL;
                };
                // SAFETY: `info` is a started dict; `name` is NUL-terminated
                // and telemetry copies it before the call returns.
                let rc = unsafe { sys::rte_tel_data_add_dict_u64(info, name.as_ptr(), v) };
                // Negative: not added (full, or a bad name); the reply is
                // then an error rather than a silently shorter answer.
                // (Positive E2BIG only says the name was cut; fit_dict's
                // keys are short enough.)
                if rc < 0 {
                    return rc;
                }
            }
        }
        Answer::Array(items) => {
            // SAFETY: as above.
            let rc = unsafe {
                sys::rte_tel_data_start_array(info, sys::rte_tel_value_type::RTE_TEL_U64_VAL)
            };
            if rc < 0 {
                return rc;
            }
            for v in items {
                // SAFETY: `info` is a started array of u64.
                let rc = unsafe { sys::rte_tel_data_add_array_u64(info, v) };
                // Full (more than RTE_TEL_MAX_ARRAY_ENTRIES): an error reply,
                // not a shorter array.
                if rc < 0 {
                    return rc;
                }
            }
        }
    }
    0
}

/// The callback of every registered command.
///
/// # Safety
/// Called by telemetry only: `cmd` and `params` are NUL-terminated (or
/// NULL) and `info` is valid for the duration of the call.
unsafe extern "C" fn callback(
    cmd: *const c_char,
    params: *const c_char,
    info: *mut sys::rte_tel_data,
) -> c_int {
    let text = |p: *const c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: telemetry passes NUL-terminated strings (or NULL,
            // checked above) that live for the duration of the callback.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    let (cmd, params) = (text(cmd), text(params));
    // Never unwind into C.
    std::panic::catch_unwind(|| match handler(&cmd).and_then(|h| h(&params)) {
        // SAFETY: `info` is the structure telemetry passed (our caller's
        // promise).
        Some(a) => unsafe { fill(a, info) },
        None => -libc::EINVAL,
    })
    .unwrap_or(-libc::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize, key_len: usize) -> Vec<(String, u64)> {
        (0..n)
            .map(|i| (format!("{i:0>width$}", width = key_len), i as u64))
            .collect()
    }

    #[test]
    fn dictionaries_that_fit_are_whole() {
        assert_eq!(fit_dict(Vec::new()), Vec::new());
        let e = entries(MAX_DICT_ENTRIES, 20);
        assert_eq!(fit_dict(e.clone()), e);
        // Keys are made telemetry-safe.
        assert_eq!(
            fit_dict(vec![("no-service".into(), 3)]),
            vec![("no_service".to_string(), 3)]
        );
    }

    #[test]
    fn too_many_entries_end_in_the_number_left_out() {
        for n in [MAX_DICT_ENTRIES + 1, 300, 5000] {
            let got = fit_dict(entries(n, 20));
            assert_eq!(got.len(), MAX_DICT_ENTRIES, "{n}");
            assert_eq!(
                got[..MAX_DICT_ENTRIES - 1],
                entries(n, 20)[..MAX_DICT_ENTRIES - 1]
            );
            assert_eq!(
                got.last(),
                Some(&(TRUNCATED.to_string(), (n - (MAX_DICT_ENTRIES - 1)) as u64))
            );
        }
    }

    #[test]
    fn long_keys_end_in_the_number_left_out_before_the_reply_is_full() {
        // 200 keys of 200 characters: cut to 127, and about 120 fit in 16 KiB.
        let got = fit_dict(entries(200, 200));
        let (last, kept) = got.split_last().unwrap();
        assert!(kept.iter().all(|(k, _)| k.len() == MAX_KEY_LEN));
        assert_eq!(last, &(TRUNCATED.to_string(), (200 - kept.len()) as u64));
        let json: usize = got.iter().map(|(k, v)| k.len() + digits(*v) + 4).sum();
        assert!(json <= MAX_DICT_JSON, "{json}");
        assert!(kept.len() > 100, "{}", kept.len());
    }

    #[test]
    fn digit_counts() {
        assert_eq!(digits(0), 1);
        assert_eq!(digits(9), 1);
        assert_eq!(digits(10), 2);
        assert_eq!(digits(u64::MAX), 20);
    }

    #[test]
    fn keys_are_telemetry_safe() {
        assert_eq!(key("no-service"), "no_service");
        assert_eq!(key("web/198.19.1.11:8080"), "web/198_19_1_11_8080");
    }
}
