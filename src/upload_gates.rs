//! What one instance lets uploads cost at once: each person's uploads in
//! progress, and the workbook reads that hold temporary disk.

use crate::error::ImportError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The uploads each person has in progress on this instance.
#[derive(Clone, Default)]
pub struct UploadSlots(Arc<Mutex<HashMap<i64, usize>>>);

/// One person's place among their uploads in progress, given back when dropped.
pub struct UploadSlot {
    slots: UploadSlots,
    user_id: i64,
}

impl UploadSlots {
    /// A place for one more upload of `user_id`, if they have fewer than `limit` in progress.
    pub fn take(&self, user_id: i64, limit: usize) -> Result<UploadSlot, ImportError> {
        let mut held = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = held.entry(user_id).or_insert(0);
        if *count >= limit {
            return Err(ImportError::TooManyUploads { limit });
        }
        *count += 1;
        Ok(UploadSlot { slots: self.clone(), user_id })
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut held = self.slots.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = held.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.user_id);
            }
        }
    }
}

/// Places for workbook reads on this instance: each holds up to two files of
/// the upload cap on disk (the upload, and its parts unpacked).
#[derive(Clone)]
pub struct WorkbookReads(Arc<Semaphore>);

impl WorkbookReads {
    pub fn new(places: usize) -> Self {
        Self(Arc::new(Semaphore::new(places.max(1))))
    }

    /// A place now, for a request: refused while all are taken.
    pub fn try_take(&self, places: usize) -> Result<OwnedSemaphorePermit, ImportError> {
        self.0.clone().try_acquire_owned().map_err(|_| ImportError::WorkbookReadsBusy { limit: places })
    }

    /// A place when one frees, for a worker.
    pub async fn take(&self) -> OwnedSemaphorePermit {
        self.0.clone().acquire_owned().await.expect("the workbook reads semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_slots_count_per_person_and_come_back() {
        let slots = UploadSlots::default();
        let first = slots.take(1, 2).unwrap();
        let _second = slots.take(1, 2).unwrap();
        assert_eq!(slots.take(1, 2).err(), Some(ImportError::TooManyUploads { limit: 2 }));
        assert!(slots.take(2, 2).is_ok(), "another person has places of their own");
        drop(first);
        assert!(slots.take(1, 2).is_ok(), "a finished upload gives its place back");
    }
}
