pub use xpg;
