/* FMI 3.0 functions the test FMUs do not offer: each returns fmi3Error (3).  Compiled without the FMI headers so
   that one line per function suffices; fmpy binds every function of the standard at load time.  The Model
   Exchange FMU (bouncing_ball3) is compiled with -DFMU_MODEL_EXCHANGE, the Co-Simulation one (feedthrough3)
   without. */
#define STUB(name) int name(void) { return 3; }
STUB(fmi3EnterConfigurationMode) STUB(fmi3ExitConfigurationMode)
STUB(fmi3GetFloat32) STUB(fmi3GetInt8) STUB(fmi3GetUInt8) STUB(fmi3GetInt16) STUB(fmi3GetUInt16) STUB(fmi3GetInt32)
STUB(fmi3GetUInt32) STUB(fmi3GetInt64) STUB(fmi3GetUInt64) STUB(fmi3GetBoolean) STUB(fmi3GetString) STUB(fmi3GetBinary)
STUB(fmi3GetClock) STUB(fmi3SetFloat32) STUB(fmi3SetInt8) STUB(fmi3SetUInt8) STUB(fmi3SetInt16) STUB(fmi3SetUInt16)
STUB(fmi3SetInt32) STUB(fmi3SetUInt32) STUB(fmi3SetInt64) STUB(fmi3SetUInt64) STUB(fmi3SetBoolean) STUB(fmi3SetString)
STUB(fmi3SetBinary) STUB(fmi3SetClock) STUB(fmi3GetNumberOfVariableDependencies) STUB(fmi3GetVariableDependencies)
STUB(fmi3SerializedFMUStateSize) STUB(fmi3SerializeFMUState) STUB(fmi3DeserializeFMUState)
STUB(fmi3GetDirectionalDerivative) STUB(fmi3GetAdjointDerivative) STUB(fmi3EvaluateDiscreteStates)
STUB(fmi3EnterStepMode) STUB(fmi3GetOutputDerivatives)
#ifdef FMU_MODEL_EXCHANGE
STUB(fmi3DoStep)
#else
STUB(fmi3UpdateDiscreteStates) STUB(fmi3EnterContinuousTimeMode) STUB(fmi3CompletedIntegratorStep) STUB(fmi3SetTime)
STUB(fmi3SetContinuousStates) STUB(fmi3GetContinuousStateDerivatives) STUB(fmi3GetEventIndicators)
STUB(fmi3GetContinuousStates) STUB(fmi3GetNominalsOfContinuousStates) STUB(fmi3GetNumberOfEventIndicators)
STUB(fmi3GetNumberOfContinuousStates)
#endif
STUB(fmi3GetIntervalDecimal) STUB(fmi3GetIntervalFraction) STUB(fmi3GetShiftDecimal) STUB(fmi3GetShiftFraction)
STUB(fmi3SetIntervalDecimal) STUB(fmi3SetIntervalFraction) STUB(fmi3SetShiftDecimal) STUB(fmi3SetShiftFraction)
STUB(fmi3ActivateModelPartition)
