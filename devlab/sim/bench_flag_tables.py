"""The flags each simulated benchmark_model build takes, as its --help lists them: (name, type, default, usage).

Copied from the tools' sources at google-ai-edge/LiteRT tag v2.2.0 (the release whose android_arm64
`benchmark_model` Google ships): `tflite/tools/benchmark/benchmark_model.cc` (BenchmarkModel::GetFlags, shared by
both tools), `litert/tools/benchmark_litert_model.h` (BenchmarkLiteRtModel::GetFlags),
`tflite/tools/benchmark/benchmark_tflite_model.cc` and the delegate providers in `tflite/tools/delegates/`
(default, gpu, nnapi, hexagon, xnnpack, external) for the classic tool. Defaults are shown as the tool prints them
(Flags::Usage streams the default: 1.0f -> "1"). Data only; devlab/sim/bench_flags.py parses with it.
"""

from __future__ import annotations

ToolFlag = tuple[str, str, str, str]   # name, type (int32|int64|float|bool|string), default as printed, usage

_BASE: tuple[ToolFlag, ...] = (
    # benchmark_model.cc
    ('num_runs', 'int32', '50', 'expected number of runs, see also min_secs, max_secs'),
    ('min_secs', 'float', '1', 'minimum number of seconds to rerun for, potentially making the actual number of runs to be greater than num_runs'),
    ('max_secs', 'float', '150', 'maximum number of seconds to rerun for, potentially making the actual number of runs to be less than num_runs. Note if --max-secs is exceeded in the middle of a run, the benchmark will continue to the end of the run but will not start the next run.'),
    ('run_delay', 'float', '-1', 'delay between runs in seconds'),
    ('run_frequency', 'float', '-1', 'Execute at a fixed frequency, instead of a fixed delay.Note if the targeted rate per second cannot be reached, the benchmark would start the next run immediately, trying its best to catch up. If set, this will override run_delay.'),
    ('num_threads', 'int32', '-1', 'number of threads'),
    ('use_caching', 'bool', 'false', 'Enable caching of prepacked weights matrices in matrix multiplication routines. Currently implies the use of the Ruy library.'),
    ('benchmark_name', 'string', '', 'benchmark name'),
    ('output_prefix', 'string', '', 'benchmark output prefix'),
    ('warmup_runs', 'int32', '1', 'minimum number of runs performed on initialization, to allow performance characteristics to settle, see also warmup_min_secs'),
    ('warmup_min_secs', 'float', '0.5', 'minimum number of seconds to rerun for, potentially making the actual number of warm-up runs to be greater than warmup_runs'),
    ('verbose', 'bool', 'false', 'Whether to log parameters whose values are not set. By default, only log those parameters that are set by parsing their values from the commandline flags.'),
    ('dry_run', 'bool', 'false', 'Whether to run the tool just with simply loading the model, allocating tensors etc. but without actually invoking any op kernels.'),
    ('report_peak_memory_footprint', 'bool', 'false', 'Report the peak memory footprint by periodically checking the memory footprint. Internally, a separate thread will be spawned for this periodic check. Therefore, the performance benchmark result could be affected.'),
    ('memory_footprint_check_interval_ms', 'int32', '50', 'The interval in millisecond between two consecutive memory footprint checks. This is only used when --report_peak_memory_footprint is set to true.'),
    ('gpu_invoke_loop_times', 'int32', '1', 'Number of GPU delegate invoke loop iterations. If > 0 then reported latency is divided by this number. Used only when TFLITE_GPU_ENABLE_INVOKE_LOOP is defined.'),
)
_LITERT_OWN: tuple[ToolFlag, ...] = (
    # benchmark_litert_model.h
    ('graph', 'string', '', 'The path to the model file.'),
    ('signature_to_run_for', 'string', '', 'The signature to run for.'),
    ('use_cpu', 'bool', 'true', 'Whether to use CPU accelerator.'),
    ('use_gpu', 'bool', 'false', 'Whether to use GPU accelerator.'),
    ('use_npu', 'bool', 'false', 'Whether to use NPU accelerator.'),
    ('dispatch_library_path', 'string', '', 'Dispatch library path.'),
    ('compiler_plugin_library_path', 'string', '', 'Compiler plugin library path. Only for JIT compilation.'),
    ('compiler_cache_path', 'string', '', 'Compiler plugin cache path, used to store JIT-compiled models.'),
    ('require_full_delegation', 'bool', 'false', 'Whether to require full delegation.'),
    ('use_profiler', 'bool', 'false', 'Whether to use profiler.'),
    ('enable_perfetto', 'bool', 'false', 'Whether to enable perfetto tracing.'),
    ('gpu_backend', 'string', '', 'GPU backend to use when using GPU accelerator.'),
    ('gpu-precision', 'string', 'auto', 'GPU precision option [auto|fp16|fp32].'),
    ('gpu_low_priority', 'bool', 'false', 'Whether to use low priority for GPU accelerator.'),
    ('result_file_path', 'string', '', 'Path to save the benchmark result in binary proto format.'),
    ('model_runtime_info_output_file', 'string', '', 'Path to save the model runtime info in binary proto format.'),
    ('mediatek_nerun_pilot_version', 'string', 'version8', 'Which version of the MediaTek NPU SDK to use.'),
    ('input_layer_value_range', 'string', '', "A map-like string representing value range for *integer* and *float* input layers. Each item is separated by ':', and the item value consists of input layer name and range values (both low and high are inclusive) separated by ',', e.g. input1,1.0,2.0:input2,0,254"),
    ('enable_weight_sharing', 'bool', 'false', 'Whether to enable weight (constant tensor) sharing.'),
    ('convert_weights_on_gpu', 'bool', 'false', 'Whether to convert weights on the GPU.'),
    ('xnnpack_weight_cache_file_path', 'string', '', "Path to an XNNPACK packed-weight cache file. Use ':memory' for an in-memory cache on supported builds."),
)
_CLASSIC_OWN: tuple[ToolFlag, ...] = (
    # benchmark_tflite_model.cc
    ('graph', 'string', '', 'graph file name'),
    ('input_layer', 'string', '', 'input layer names'),
    ('input_layer_shape', 'string', '', 'input layer shape'),
    ('input_layer_value_range', 'string', '', "A map-like string representing value range for *integer* input layers. Each item is separated by ':', and the item value consists of input layer name and integer-only range values (both low and high are inclusive) separated by ',', e.g. input1,1,2:input2,0,254"),
    ('input_layer_value_files', 'string', '', 'A map-like string representing value file. Each item is separated by \',\', and the item value consists of input layer name and value file path separated by \':\', e.g. input1:file_path1,input2:file_path2. In case the input layer name contains \':\' e.g. "input:0", escape it with "\\\\:". If the input_name appears both in input_layer_value_range and input_layer_value_files, input_layer_value_range of the input_name will be ignored. The file format is binary and it should be array format or null separated strings format.'),
    ('allow_fp16', 'bool', 'false', 'allow fp16'),
    ('require_full_delegation', 'bool', 'false', 'require delegate to run the entire graph'),
    ('enable_op_profiling', 'bool', 'false', 'enable op profiling'),
    ('op_profiling_output_mode', 'string', 'stdout', "Output mode for op profiling results. Supported values are: 'stdout', 'csv' and 'proto'."),
    ('op_profiling_output_file', 'string', '', 'Output file for op profiling results.'),
    ('max_profiling_buffer_entries', 'int32', '1024', 'max initial profiling buffer entries'),
    ('allow_dynamic_profiling_buffer_increase', 'bool', 'false', 'allow dynamic increase on profiling buffer entries'),
    ('profiling_output_csv_file', 'string', '', '[DEPRECATED: Use op_profiling_output_file and op_profiling_output_mode instead] File path to export profile data as CSV, if not set prints to stdout.'),
    ('export_model_runtime_info', 'bool', 'false', 'Enable Model Runtime Info Export'),
    ('model_runtime_info_output_file', 'string', '', 'Proto File to export model runtime info to'),
    ('print_preinvoke_state', 'bool', 'false', 'print out the interpreter internals just before calling Invoke. The internals will include allocated memory size of each tensor etc.'),
    ('print_postinvoke_state', 'bool', 'false', 'print out the interpreter internals just before benchmark completes (i.e. after all repeated Invoke calls complete). The internals will include allocated memory size of each tensor etc.'),
    ('release_dynamic_tensors', 'bool', 'false', "Ensure dynamic tensor's memory is released when they are not used."),
    ('optimize_memory_for_large_tensors', 'int32', '0', 'Optimize memory usage for large tensors with sacrificing latency.'),
    ('disable_delegate_clustering', 'bool', 'false', 'Disable delegate clustering.'),
    ('enable_builtin_cast_constant_cache', 'bool', 'false', 'Cache the output of the builtin cast operation when its input is a constant tensor.'),
    ('output_filepath', 'string', '', 'File path to export outputs layer as binary data.'),
    ('output_proto_filepath', 'string', '', 'File path to export outputs layer as tf example proto.'),
    ('tensor_name_display_length', 'int32', '25', "The number of characters to show for the tensor's name when printing the interpeter's state, defaults to 25."),
    ('tensor_type_display_length', 'int32', '15', "The number of characters to show for the tensor's type when printing the interpeter's state, defaults to 15."),
    ('alloc_type_display_length', 'int32', '18', "The number of characters to show for the tensor's allocation type when printing the interpeter's state, defaults to 18."),
    ('signature_to_run_for', 'string', '', 'If the model contains multiple signatures, use this flag to specify the signature to benchmark. If multiple signatures are present and this flag is not specified, the benchmark will throw an error. If only one signature is present and this flag is not specified, the default signature will be used.'),
    ('list_signatures', 'bool', 'false', 'Displays all signatures present in the model and then terminates the program.'),
    ('result_file_path', 'string', '', 'Path to save the benchmark result in binary proto format.'),
    # default_execution_provider.cc
    ('help', 'bool', 'false', 'Print out all supported flags if true.'),
    ('num_threads', 'int32', '-1', 'number of threads used for inference on CPU.'),
    ('max_delegated_partitions', 'int32', '0', 'Max number of partitions to be delegated.'),
    ('min_nodes_per_partition', 'int32', '0', 'The minimal number of TFLite graph nodes of a partition that has to be reached for it to be delegated.A negative value or 0 means to use the default choice of each delegate.'),
    ('first_delegate_node_index', 'int32', '0', 'The index of the first node that could be delegated. Used only when TFLITE_DEBUG_DELEGATE is defined. Default is 0.'),
    ('last_delegate_node_index', 'int32', '2147483647', 'The index of the last node that could be delegated. Used only when TFLITE_DEBUG_DELEGATE is defined. Default is INT_MAX.'),
    ('gpu_invoke_loop_times', 'int32', '-1', 'Number of GPU delegate invoke loop iterations. Used only when TFLITE_GPU_ENABLE_INVOKE_LOOP is defined. Default is 1.'),
    ('delegate_serialize_dir', 'string', '', 'Directory to be used by delegates for serializing any model data. This allows the delegate to save data into this directory to reduce init time after the first run. Currently supported by NNAPI delegate with specific backends on Android. Note that delegate_serialize_token is also required to enable this feature.'),
    ('delegate_serialize_token', 'string', '', "Model-specific token acting as a namespace for delegate serialization. Unique tokens ensure that the delegate doesn't read inapplicable/invalid data. Note that delegate_serialize_dir is also required to enable this feature."),
    # gpu_delegate_provider.cc
    ('use_gpu', 'bool', 'false', 'use gpu'),
    ('gpu_precision_loss_allowed', 'bool', 'true', "Allow to process computation in lower precision than FP32 in GPU. By default, it's enabled."),
    ('gpu_experimental_enable_quant', 'bool', 'true', "Whether to enable the GPU delegate to run quantized models or not. By default, it's enabled."),
    ('gpu_inference_for_sustained_speed', 'bool', 'false', "Whether to prefer maximizing the throughput. This mode will help when the same delegate will be used repeatedly on multiple inputs. This is supported on non-iOS platforms. By default, it's disabled."),
    ('gpu_backend', 'string', '', 'Force the GPU delegate to use a particular backend for execution, and fail if unsuccessful. Should be one of: cl, gl'),
    ('gpu_wait_type', 'string', '', 'GPU wait type. Should be one of the following: passive, active, do_not_wait, aggressive'),
    # nnapi_delegate_provider.cc
    ('use_nnapi', 'bool', 'false', 'use nnapi delegate api'),
    ('nnapi_execution_preference', 'string', '', 'execution preference for nnapi delegate. Should be one of the following: fast_single_answer, sustained_speed, low_power, undefined'),
    ('nnapi_execution_priority', 'string', '', 'The model execution priority in nnapi, and it should be one of the following: default, low, medium and high. This requires Android 11+.'),
    ('nnapi_accelerator_name', 'string', '', 'the name of the nnapi accelerator to use (requires Android Q+)'),
    ('disable_nnapi_cpu', 'bool', 'true', 'Disable the NNAPI CPU device'),
    ('nnapi_allow_fp16', 'bool', 'false', 'Allow fp32 computation to be run in fp16'),
    ('nnapi_allow_dynamic_dimensions', 'bool', 'false', 'Whether to allow dynamic dimension sizes without re-compilation. This requires Android 9+.'),
    ('nnapi_use_burst_mode', 'bool', 'false', 'use NNAPI Burst mode if supported. Burst mode allows accelerators to efficiently manage resources, which would significantly reduce overhead especially if the same delegate instance is to be used for multiple inferences.'),
    ('nnapi_support_library_path', 'string', '', 'Path from which NNAPI support library will be loaded to construct the delegate. In order to use NNAPI delegate with support library, --nnapi_accelerator_name must be specified and must be equal to one of the devices provided by the support library.'),
    # hexagon_delegate_provider.cc
    ('use_hexagon', 'bool', 'false', 'Use Hexagon delegate'),
    ('hexagon_lib_path', 'string', '/data/local/tmp', 'The library path for the underlying Hexagon libraries. The library path ONLY for the libhexagon_nn_skel*.so files. For libhexagon_interface.so, it needs to be on a system library search path such as LD_LIBRARY_PATH.'),
    ('hexagon_profiling', 'bool', 'false', 'Enables Hexagon profiling'),
    # xnnpack_delegate_provider.cc
    ('use_xnnpack', 'bool', 'false', 'explicitly apply the XNNPACK delegate. Note the XNNPACK delegate could be implicitly applied by the TF Lite runtime regardless the value of this parameter. To disable this implicit application, set the value to false explicitly.'),
    ('xnnpack_force_fp16', 'bool', 'false', 'enforce float16 inference.'),
    ('xnnpack_weight_cache_file_path', 'string', '', 'enable file-backed weight caching.'),
    ('xnnpack_runtime_flags', 'int32', '0', 'Extra flags to pass to XNNPACK runtime.'),
    # external_delegate_provider.cc
    ('external_delegate_path', 'string', '', 'The library path for the underlying external.'),
    ('external_delegate_options', 'string', '', 'A list of comma-separated options to be passed to the external delegate. Each option is a colon-separated key-value pair, e.g. option_name:option_value.'),
)


LITERT_2_2_0: tuple[ToolFlag, ...] = _BASE + _LITERT_OWN
CLASSIC: tuple[ToolFlag, ...] = _BASE + _CLASSIC_OWN
# An old classic build (before op_profiling_output_mode/_file replaced profiling_output_csv_file, and before the
# structured outputs): the current list without those flags. Which release dropped in which flag is not pinned to
# a tag here (docs/sim-fidelity.md marks it); what matters is that such builds exist (issue 11, defect 4).
_NOT_IN_LEGACY = {"op_profiling_output_mode", "op_profiling_output_file", "result_file_path",
                  "export_model_runtime_info", "model_runtime_info_output_file"}
CLASSIC_LEGACY: tuple[ToolFlag, ...] = tuple(
    (n, t, d, "File path to export profile data as CSV, if not set prints to stdout."
     if n == "profiling_output_csv_file" else u) for n, t, d, u in CLASSIC if n not in _NOT_IN_LEGACY)
TOOL_FLAGS: dict[str, tuple[ToolFlag, ...]] = {"litert": LITERT_2_2_0, "classic": CLASSIC,
                                                "classic-legacy": CLASSIC_LEGACY}
