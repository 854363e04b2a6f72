//! The stable text form of the IR (`build --emit ir`).
