//! The real Hermes agent gateway (hermes-agent on PyPI) supervised by respawn.

mod gateway;
mod ready;
mod watchdog;
