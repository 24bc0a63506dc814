//! One module per page.

mod account;
mod history;
mod home;
mod keys;
mod login;
mod models;
mod predict;
mod signup;

pub use account::AccountPage;
pub use history::HistoryPage;
pub use home::{HomePage, NotFound};
pub use keys::KeysPage;
pub use login::LoginPage;
pub use models::{ModelPage, ModelsPage};
pub use predict::PredictPage;
pub use signup::SignupPage;
