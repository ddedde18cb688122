//! The supervisor engine with real processes: restarts, stops, health, the lock, the fault matrix.

mod engine;
mod env_file;
mod faults;
mod health;
mod lock_truth;
mod main_pid;
mod memory;
mod pid_file_hang;
mod restart_now;
mod stdin;
