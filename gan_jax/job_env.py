"""The environment variables that make a process part of a multi-process (multi-controller)
job: read by :func:`gan_jax.training.parallel.initialize_distributed`, set by :mod:`gan_jax.training.launch`
or by a cluster's job script (docs/guides/scaling.md).  A module of its own so that the
launcher can name them without loading JAX."""

COORDINATOR_ENV = "JAX_COORDINATOR_ADDRESS"  # host:port of process 0 (JAX reads it too)
NUM_PROCESSES_ENV = "JAX_NUM_PROCESSES"
PROCESS_ID_ENV = "JAX_PROCESS_ID"
AUTO_DETECT_ENV = "GAN_JAX_DISTRIBUTED"  # "1": JAX detects the job (TPU pod, Slurm, …)
INIT_TIMEOUT_ENV = "GAN_JAX_INIT_TIMEOUT"  # seconds for every process to join (300)
HEARTBEAT_TIMEOUT_ENV = "GAN_JAX_HEARTBEAT_TIMEOUT"  # seconds until a silent one is dead (100)
