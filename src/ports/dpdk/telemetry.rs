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
            for (k, v) in entries {
                let Ok(name) = CString::new(key(&k)) else {
                    continue;
                };
                // SAFETY: `info` is a started dict; `name` is NUL-terminated
                // and telemetry copies it before the call returns.
                unsafe { sys::rte_tel_data_add_dict_u64(info, name.as_ptr(), v) };
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
                unsafe { sys::rte_tel_data_add_array_u64(info, v) };
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

    #[test]
    fn keys_are_telemetry_safe() {
        assert_eq!(key("no-service"), "no_service");
        assert_eq!(key("web/198.19.1.11:8080"), "web/198_19_1_11_8080");
    }
}
