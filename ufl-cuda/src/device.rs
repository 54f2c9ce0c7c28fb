//! The device side: finding a CUDA driver and NVRTC at run time, compiling each [`Variant`]
//! once, and launching the three passes on one stream.
//!
//! The driver (`libcuda`) and NVRTC (`libnvrtc`) are loaded when a [`CudaBackend`] is made, not
//! linked: on a machine without them the backend reports [`CudaLossError::NoDevice`] and
//! everything else of the crate still works. Calls into the CUDA libraries run behind
//! [`std::panic::catch_unwind`], so that a library that misbehaves (a missing symbol in an older
//! driver, say) surfaces as an error, never as a panic of the caller.

use crate::error::CudaLossError;
use crate::geometry::{FINALIZE_THREADS, GRAD_THREADS, STATISTICS, STATS_THREADS};
use crate::source::{compile_options, source, ENTRY_POINTS};
use crate::spec::{Spec, Variant};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DriverError, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileError, CompileOptions};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use ufl_oracle::Problem;

/// The three compiled entry points of one variant.
#[derive(Debug)]
pub struct Kernels {
    stats: CudaFunction,
    finalize: CudaFunction,
    gradient: CudaFunction,
}

/// What one evaluation returns.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceResult {
    /// The loss entries (one for a scalar loss).
    pub loss: Vec<f32>,
    /// d(sum of the loss entries)/d(prediction), in the prediction's layout.
    pub grad: Vec<f32>,
    /// Per (item, class): the combined TP, FN, FP and focal sums.
    pub stats: Vec<f32>,
}

/// A CUDA device with a cache of compiled kernel variants.
pub struct CudaBackend {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    capability: (i32, i32),
    name: String,
    modules: Mutex<HashMap<Variant, Arc<Kernels>>>,
}

impl std::fmt::Debug for CudaBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CudaBackend")
            .field("device", &self.name)
            .field("capability", &self.capability)
            .finish()
    }
}

/// Runs `f`, turning a panic inside the CUDA libraries into an error.
fn guarded<T>(
    during: &'static str,
    f: impl FnOnce() -> Result<T, CudaLossError>,
) -> Result<T, CudaLossError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the CUDA library panicked".to_string());
        Err(CudaLossError::Driver { during, message })
    })
}

fn driver(during: &'static str) -> impl Fn(DriverError) -> CudaLossError {
    move |e| CudaLossError::Driver {
        during,
        message: e.to_string(),
    }
}

/// Why no device can be used here, or `None` when the CUDA driver and NVRTC libraries load.
pub fn libraries_missing() -> Option<String> {
    guarded("looking for the CUDA libraries", || {
        // SAFETY: these only try to open the shared libraries by their usual names.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(CudaLossError::NoDevice(
                "the CUDA driver library (libcuda.so) was not found".to_string(),
            ));
        }
        if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            return Err(CudaLossError::NoDevice(
                "the NVRTC library (libnvrtc.so.13) was not found: add its folder to LD_LIBRARY_PATH"
                    .to_string(),
            ));
        }
        Ok(())
    })
    .err()
    .map(|e| match e {
        CudaLossError::NoDevice(why) => why,
        other => other.to_string(),
    })
}

/// Whether NVRTC alone can be loaded (kernels can be compiled, not run).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to open the shared library by its usual names.
    catch_unwind(|| unsafe { cudarc::nvrtc::sys::is_culib_present() }).unwrap_or(false)
}

/// Compiles the source of `variant` to PTX for a device of `capability`; needs NVRTC only.
pub fn compile_ptx(variant: &Variant, capability: (i32, i32)) -> Result<String, CudaLossError> {
    guarded("compiling the kernels", || {
        let options = CompileOptions {
            options: compile_options(capability),
            name: Some("ufl_loss.cu".to_string()),
            ..Default::default()
        };
        let ptx = compile_ptx_with_opts(source(variant), options)
            .map_err(|e| compile_error(variant, e))?;
        Ok(ptx.to_src())
    })
}

fn compile_error(variant: &Variant, e: CompileError) -> CudaLossError {
    let log = match e {
        CompileError::CompileError { log, .. } => log.to_string_lossy().into_owned(),
        other => other.to_string(),
    };
    CudaLossError::Compile {
        variant: variant.describe(),
        log,
    }
}

impl CudaBackend {
    /// The first CUDA device.
    pub fn new() -> Result<Self, CudaLossError> {
        Self::on_device(0)
    }

    /// CUDA device `ordinal`.
    pub fn on_device(ordinal: usize) -> Result<Self, CudaLossError> {
        if let Some(why) = libraries_missing() {
            return Err(CudaLossError::NoDevice(why));
        }
        guarded("opening the device", || {
            let ctx = CudaContext::new(ordinal).map_err(|e| {
                CudaLossError::NoDevice(format!("CUDA device {ordinal} cannot be opened: {e}"))
            })?;
            let capability = ctx
                .compute_capability()
                .map_err(driver("reading the compute capability"))?;
            let name = ctx.name().map_err(driver("reading the device name"))?;
            let stream = ctx.default_stream();
            Ok(CudaBackend {
                ctx,
                stream,
                capability,
                name,
                modules: Mutex::new(HashMap::new()),
            })
        })
    }

    /// The device's name, as the driver reports it.
    pub fn device_name(&self) -> &str {
        &self.name
    }

    /// The device's compute capability (major, minor).
    pub fn compute_capability(&self) -> (i32, i32) {
        self.capability
    }

    /// The stream every launch of this backend goes to.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// The compiled kernels of `variant`, compiling them on first use.
    pub fn kernels(&self, variant: &Variant) -> Result<Arc<Kernels>, CudaLossError> {
        let mut modules = self.modules.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = modules.get(variant) {
            return Ok(k.clone());
        }
        let kernels = guarded("loading the kernels", || {
            let options = CompileOptions {
                options: compile_options(self.capability),
                name: Some("ufl_loss.cu".to_string()),
                ..Default::default()
            };
            let ptx = compile_ptx_with_opts(source(variant), options)
                .map_err(|e| compile_error(variant, e))?;
            let module = self
                .ctx
                .load_module(ptx)
                .map_err(driver("loading the compiled module"))?;
            let load = |name: &str| {
                module
                    .load_function(name)
                    .map_err(driver("finding a kernel in the module"))
            };
            Ok(Arc::new(Kernels {
                stats: load(ENTRY_POINTS[0])?,
                finalize: load(ENTRY_POINTS[1])?,
                gradient: load(ENTRY_POINTS[2])?,
            }))
        })?;
        modules.insert(*variant, kernels.clone());
        Ok(kernels)
    }

    /// Loss and gradient of `problem`, computed on the device: the loss entries, and
    /// d(sum of the loss entries)/d(prediction) in the prediction's layout.
    pub fn evaluate(&self, problem: &Problem) -> Result<(Vec<f32>, Vec<f32>), CudaLossError> {
        let r = self.evaluate_detailed(problem)?;
        Ok((r.loss, r.grad))
    }

    /// As [`CudaBackend::evaluate`], with the combined statistics.
    pub fn evaluate_detailed(&self, problem: &Problem) -> Result<DeviceResult, CudaLossError> {
        let spec = Spec::from_problem(problem)?;
        // Spec::from_problem has checked that every value is a float32 value.
        let pred: Vec<f32> = problem.pred.data.iter().map(|&x| x as f32).collect();
        let target: Vec<f32> = problem.target.data.iter().map(|&x| x as f32).collect();
        self.evaluate_spec(&spec, &pred, &target)
    }

    /// Runs the kernels of `spec` on host arrays in the problem's layout.
    pub fn evaluate_spec(
        &self,
        spec: &Spec,
        pred: &[f32],
        target: &[f32],
    ) -> Result<DeviceResult, CudaLossError> {
        for (what, len) in [("prediction", pred.len()), ("target", target.len())] {
            if len != spec.elements() {
                return Err(CudaLossError::BufferLength {
                    what,
                    len,
                    expected: spec.elements(),
                });
            }
        }
        guarded("evaluating", || {
            let mut launch = self.prepare(spec)?;
            let up = driver("copying the inputs to the device");
            let pred = self.stream.clone_htod(pred).map_err(&up)?;
            let target = self.stream.clone_htod(target).map_err(&up)?;
            let mut grad = self
                .stream
                .alloc_zeros::<f32>(spec.elements())
                .map_err(driver("allocating the gradient"))?;
            launch.run(&pred, &target, &mut grad)?;
            let down = driver("copying the results back");
            let grad = self.stream.clone_dtoh(&grad).map_err(&down)?;
            Ok(DeviceResult {
                loss: launch.loss()?,
                grad,
                stats: launch.stats()?,
            })
        })
    }

    /// Compiles (or finds) the kernels of `spec` and allocates its scratch buffers, for
    /// repeated launches on device arrays (see [`Launch::run`]).
    pub fn prepare(&self, spec: &Spec) -> Result<Launch, CudaLossError> {
        let kernels = self.kernels(&spec.variant)?;
        guarded("allocating scratch buffers", || {
            let g = &spec.geometry;
            let alloc = driver("allocating scratch buffers");
            Ok(Launch {
                spec: spec.clone(),
                kernels,
                stream: self.stream.clone(),
                rare: self.stream.clone_htod(&spec.rare).map_err(&alloc)?,
                partial: self
                    .stream
                    .alloc_zeros::<f32>(g.partial_len)
                    .map_err(&alloc)?,
                stats: self
                    .stream
                    .alloc_zeros::<f32>(g.planes * STATISTICS)
                    .map_err(&alloc)?,
                coef: self
                    .stream
                    .alloc_zeros::<f32>(g.planes * STATISTICS)
                    .map_err(&alloc)?,
                loss: self
                    .stream
                    .alloc_zeros::<f32>(spec.loss_len)
                    .map_err(&alloc)?,
            })
        })
    }
}

/// One problem's kernels and scratch buffers, ready to be launched on device arrays.
pub struct Launch {
    spec: Spec,
    kernels: Arc<Kernels>,
    stream: Arc<CudaStream>,
    rare: CudaSlice<i32>,
    partial: CudaSlice<f32>,
    stats: CudaSlice<f32>,
    coef: CudaSlice<f32>,
    loss: CudaSlice<f32>,
}

impl Launch {
    /// The problem this launch computes.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// Enqueues the three passes: reads `pred` and `target`, writes `grad` (all in the
    /// problem's layout) and the loss, which [`Launch::loss`] copies back. Returns once the
    /// work is queued; the stream orders everything after it.
    pub fn run(
        &mut self,
        pred: &CudaSlice<f32>,
        target: &CudaSlice<f32>,
        grad: &mut CudaSlice<f32>,
    ) -> Result<(), CudaLossError> {
        let n = self.spec.elements();
        for (what, len) in [
            ("prediction", pred.len()),
            ("target", target.len()),
            ("gradient", grad.len()),
        ] {
            if len != n {
                return Err(CudaLossError::BufferLength {
                    what,
                    len,
                    expected: n,
                });
            }
        }
        let g = self.spec.geometry;
        let scalars = self.spec.scalars;
        let launch = driver("launching a kernel");
        guarded("launching the kernels", || {
            let config = |blocks: u32, threads: u32| LaunchConfig {
                grid_dim: (blocks, 1, 1),
                block_dim: (threads, 1, 1),
                shared_mem_bytes: 0,
            };
            let mut a = self.stream.launch_builder(&self.kernels.stats);
            a.arg(pred)
                .arg(target)
                .arg(&self.rare)
                .arg(&scalars)
                .arg(&mut self.partial);
            // SAFETY: the arguments match `ufl_stats`'s parameters in number, order and type;
            // the geometry sizes `partial` for every block's writes and bounds every read.
            unsafe { a.launch(config(g.stats_blocks, STATS_THREADS)) }.map_err(&launch)?;

            let mut a = self.stream.launch_builder(&self.kernels.finalize);
            a.arg(&self.partial)
                .arg(&self.rare)
                .arg(&scalars)
                .arg(&mut self.stats)
                .arg(&mut self.coef)
                .arg(&mut self.loss);
            // SAFETY: as above, for `ufl_finalize`: stats and coef hold planes × 4 floats, the
            // loss its `loss_len` entries.
            unsafe { a.launch(config(1, FINALIZE_THREADS)) }.map_err(&launch)?;

            let mut a = self.stream.launch_builder(&self.kernels.gradient);
            a.arg(pred)
                .arg(target)
                .arg(&self.rare)
                .arg(&scalars)
                .arg(&self.coef)
                .arg(grad);
            // SAFETY: as above, for `ufl_gradient`: one thread per `grad_vec` elements, the
            // last block guarded by the element count.
            unsafe { a.launch(config(g.grad_blocks, GRAD_THREADS)) }.map_err(&launch)?;
            Ok(())
        })
    }

    /// The loss of the last run (waits for it).
    pub fn loss(&self) -> Result<Vec<f32>, CudaLossError> {
        self.stream
            .clone_dtoh(&self.loss)
            .map_err(driver("copying the loss back"))
    }

    /// The combined statistics of the last run (waits for it).
    pub fn stats(&self) -> Result<Vec<f32>, CudaLossError> {
        self.stream
            .clone_dtoh(&self.stats)
            .map_err(driver("copying the statistics back"))
    }
}
