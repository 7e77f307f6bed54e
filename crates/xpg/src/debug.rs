//! Validation messages: the debug messenger routes them to `tracing` and counts them per
//! [`Context`](crate::Context), so tests running in parallel can each assert zero.

use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use ash::vk;

/// How many recent messages are kept for [`MessageCounts::recent`].
const KEEP_RECENT: usize = 64;

/// Counts of the messages a context's debug messenger received.
#[derive(Debug, Default)]
pub struct MessageLog {
    errors: AtomicU64,
    warnings: AtomicU64,
    recent: Mutex<Vec<String>>,
}

/// A snapshot of the validation messages a context received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// Messages of severity ERROR (validation errors, synchronization hazards).
    pub errors: u64,
    /// Messages of severity WARNING.
    pub warnings: u64,
    /// The most recent warning or error texts (at most 64), oldest first.
    pub recent: Vec<String>,
}

impl MessageCounts {
    /// Errors plus warnings.
    pub fn total(&self) -> u64 {
        self.errors + self.warnings
    }
}

impl MessageLog {
    pub(crate) fn snapshot(&self) -> MessageCounts {
        MessageCounts {
            errors: self.errors.load(Ordering::Relaxed),
            warnings: self.warnings.load(Ordering::Relaxed),
            recent: self.recent.lock().map(|r| r.clone()).unwrap_or_default(),
        }
    }

    fn record(&self, text: String, error: bool) {
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        } else {
            self.warnings.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut r) = self.recent.lock() {
            if r.len() == KEEP_RECENT {
                r.remove(0);
            }
            r.push(text);
        }
    }
}

/// The messenger callback. `user_data` points at the context's [`MessageLog`], which is boxed
/// and outlives the messenger.
pub(crate) unsafe extern "system" fn messenger_callback(
    severity: vk::DebugUtilsMessageSeverityFlagsEXT,
    kind: vk::DebugUtilsMessageTypeFlagsEXT,
    data: *const vk::DebugUtilsMessengerCallbackDataEXT<'_>,
    user_data: *mut std::ffi::c_void,
) -> vk::Bool32 {
    // SAFETY: the loader passes a valid callback-data pointer (or null, handled) for the duration
    // of the call; its message is a NUL-terminated string when not null.
    let message = unsafe {
        data.as_ref()
            .and_then(|d| (!d.p_message.is_null()).then(|| CStr::from_ptr(d.p_message)))
            .map(|m| m.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let is_error = severity.contains(vk::DebugUtilsMessageSeverityFlagsEXT::ERROR);
    let is_warning = severity.contains(vk::DebugUtilsMessageSeverityFlagsEXT::WARNING);
    if is_error {
        tracing::error!(target: "vulkan", ?kind, "{message}");
    } else if is_warning {
        tracing::warn!(target: "vulkan", ?kind, "{message}");
    } else if severity.contains(vk::DebugUtilsMessageSeverityFlagsEXT::INFO) {
        tracing::debug!(target: "vulkan", ?kind, "{message}");
    } else {
        tracing::trace!(target: "vulkan", ?kind, "{message}");
    }
    if is_error || is_warning {
        // SAFETY: user_data is the `MessageLog` boxed in the context's shared state, which is
        // destroyed only after the messenger.
        if let Some(log) = unsafe { (user_data as *const MessageLog).as_ref() } {
            log.record(message, is_error);
        }
    }
    vk::FALSE
}
