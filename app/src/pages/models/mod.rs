//! The Models pages, for model owners: the list of their models with the upload form
//! ([`list`], `/models`), and one model ([`detail`], `/models/:id`): its compilation's
//! progress, then its report ([`report`], with [`charts`]), the details users see
//! ([`details`]) and its publication.
//!
//! The larger components erase their views to `AnyView` (`.into_any()`), like the Predict
//! form: as one type, these pages' views nest deeper than the compiler's default query depth
//! allows.

mod details_form;
mod list;
mod page;
mod report;
mod report_charts;
mod upload;

pub use list::ModelsPage;
pub use page::ModelPage;
