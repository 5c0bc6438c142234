"""The served model's ``serving_default`` signature as TF Serving describes it (REST
metadata and gRPC ``GetModelMetadata`` share it), built from the export's contract."""

from __future__ import annotations

from typing import Any

from tensorflow_serving.apis import get_model_metadata_pb2

PREDICT_METHOD = "tensorflow/serving/predict"
SIGNATURE = "serving_default"
DTYPES = {"float64": "DT_DOUBLE", "float32": "DT_FLOAT", "string": "DT_STRING"}


def signature_def_map(contract: dict[str, Any]) -> get_model_metadata_pb2.SignatureDefMap:
    """The ``serving_default`` signature as TF Serving describes it, from the contract."""
    from tensorflow.core.framework import tensor_shape_pb2, types_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    def info(item: dict[str, Any]) -> meta_graph_pb2.TensorInfo:
        dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=d or -1) for d in item["shape"]]
        return meta_graph_pb2.TensorInfo(
            name=item["tensor"],
            dtype=types_pb2.DataType.Value(DTYPES[item["dtype"]]),
            tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims),
        )

    sig = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
    for item in contract["inputs"]:
        sig.inputs[item["name"]].CopyFrom(info(item))
    for item in contract["outputs"]:
        if item["name"] == "probabilities":
            sig.outputs[item["name"]].CopyFrom(info(item))
    # the server's label at the contract's threshold (the graph's class_index, as names)
    label = {"name": "label", "tensor": "label", "dtype": "string", "shape": [None]}
    sig.outputs["label"].CopyFrom(info(label))
    out = get_model_metadata_pb2.SignatureDefMap()
    out.signature_def[SIGNATURE].CopyFrom(sig)
    return out
