//! One module per page.

pub mod contact;
pub mod contacts;
pub mod home;
pub mod import;
pub mod import_status;
pub mod imports;
pub mod settings;
pub mod sign_in;
pub mod sign_up;
pub mod undo;

pub mod common;
