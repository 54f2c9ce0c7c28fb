//! Array files for the CLI: NumPy `.npy` and JSON.
