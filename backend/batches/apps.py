from django.apps import AppConfig


def _pool_process_prepare(**_: object) -> None:
    """Each worker pool process, as it starts: clear what dead ones left behind, then cap its own memory."""
    from .processing import task_memory_limit, workdirs_clean

    workdirs_clean()
    task_memory_limit()


class BatchesConfig(AppConfig):
    name = "backend.batches"
    label = "batches"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.signals import worker_process_init

        worker_process_init.connect(_pool_process_prepare, weak=False, dispatch_uid="batches.pool_process_prepare")
