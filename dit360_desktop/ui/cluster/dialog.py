"""Generate → "Send queue to cluster…": where the cluster is, and where its workers find the model."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)


@dataclass(frozen=True)
class ClusterChoice:
    address: str
    # A model folder every worker can read; "" lets each worker use its own installed model.
    model_dir: str
    fetch_models: bool
    retries: int


class SendToClusterDialog(QDialog):
    def __init__(self, address: str, job_count: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SendToClusterDialog")
        self.setWindowTitle("Send queue to cluster")
        layout = QVBoxLayout(self)
        intro = QLabel(
            f"The {job_count} waiting job(s) run on the Ray cluster; each result is saved into your history "
            "as it arrives. The running job stays on this computer."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        self.address_edit = QLineEdit(address or "local")
        self.address_edit.setPlaceholderText("ray://head-node:10001")
        self.address_edit.setToolTip(
            "ray://HOST:PORT (Ray Client, port 10001), HOST:PORT of the head node (6379), or local for a "
            "Ray runtime on this computer."
        )
        form.addRow("Cluster address", self.address_edit)
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("each worker's installed FLUX.1-dev")
        self.model_edit.setToolTip(
            "A FLUX.1-dev folder every worker can read (a shared path), or leave empty."
        )
        form.addRow("Model folder on the workers", self.model_edit)
        self.fetch_check = QCheckBox(
            "Workers download a missing model (your Hugging Face token is passed on)"
        )
        form.addRow("", self.fetch_check)
        self.retries_spin = QSpinBox()
        self.retries_spin.setRange(0, 10)
        self.retries_spin.setValue(2)
        self.retries_spin.setToolTip("How often a job is retried on another worker when its worker is lost.")
        form.addRow("Retries", self.retries_spin)
        layout.addLayout(form)
        self.error_label = QLabel("")
        self.error_label.setObjectName("ErrorText")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Send")
        buttons.accepted.connect(self._accept_if_valid)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def choice(self) -> ClusterChoice:
        return ClusterChoice(
            address=self.address_edit.text().strip(),
            model_dir=self.model_edit.text().strip(),
            fetch_models=self.fetch_check.isChecked(),
            retries=self.retries_spin.value(),
        )

    def _accept_if_valid(self) -> None:
        from dit360_desktop.cluster.connect import check_address
        from dit360_desktop.cluster.errors import ClusterConnectionError

        try:
            check_address(self.address_edit.text())
        except ClusterConnectionError as e:
            self.error_label.setText(str(e))
            self.error_label.show()
            return
        self.accept()
