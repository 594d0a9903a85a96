/*
 * Just enough of the ONNX protobuf encoding (onnx/onnx.proto, IR version 8,
 * default opset 13) to describe the one-operator graphs the native matmul runs:
 * a Gemm, or a MatMul between optional Transposes, with an optional bias Add
 * and Relu. Every dimension is symbolic, so one session serves every shape of
 * its variant. Writing the few fields by hand avoids a protobuf dependency.
 */

function varint(value: number): number[] {
  const out: number[] = [];
  let n = value;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

const WIRE_VARINT = 0;
const WIRE_BYTES = 2;
const key = (field: number, wire: number) => varint((field << 3) | wire);
const intField = (field: number, value: number) => [...key(field, WIRE_VARINT), ...varint(value)];
const bytesField = (field: number, payload: number[]) => [...key(field, WIRE_BYTES), ...varint(payload.length), ...payload];
const stringField = (field: number, text: string) => bytesField(field, [...new TextEncoder().encode(text)]);

// AttributeProto.AttributeType
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;
// TensorProto.DataType
const FLOAT = 1;

export type Attribute = { readonly name: string } & ({ readonly int: number } | { readonly ints: readonly number[] });

export interface OnnxNode {
  readonly op: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attributes?: readonly Attribute[];
}

/** A float32 graph input or output with `rank` symbolic dimensions. */
export interface OnnxValue {
  readonly name: string;
  readonly rank: number;
}

function attribute(a: Attribute): number[] {
  // AttributeProto: name = 1, i = 3, ints = 8, type = 20.
  const value = 'int' in a ? intField(3, a.int) : a.ints.flatMap((v) => intField(8, v));
  return bytesField(5, [...stringField(1, a.name), ...value, ...intField(20, 'int' in a ? ATTRIBUTE_INT : ATTRIBUTE_INTS)]);
}

function node(n: OnnxNode): number[] {
  // NodeProto: input = 1, output = 2, op_type = 4, attribute = 5.
  return bytesField(1, [...n.inputs.flatMap((i) => stringField(1, i)), ...n.outputs.flatMap((o) => stringField(2, o)), ...stringField(4, n.op), ...(n.attributes ?? []).flatMap(attribute)]);
}

function valueInfo(field: number, v: OnnxValue): number[] {
  // ValueInfoProto{name = 1, type = 2: TypeProto{tensor_type = 1: {elem_type = 1, shape = 2: {dim = 1: {dim_param = 2}}}}}.
  // Every dimension gets its own symbol: ONNX shape inference works out which are equal.
  const dims = Array.from({ length: v.rank }, (_, i) => bytesField(1, stringField(2, `${v.name}_${i}`))).flat();
  return bytesField(field, [...stringField(1, v.name), ...bytesField(2, bytesField(1, [...intField(1, FLOAT), ...bytesField(2, dims)]))]);
}

/** A serialised ModelProto of one graph. */
export function onnxModel(nodes: readonly OnnxNode[], inputs: readonly OnnxValue[], outputs: readonly OnnxValue[]): Uint8Array {
  // GraphProto: node = 1, name = 2, input = 11, output = 12.
  const graph = [...nodes.flatMap(node), ...stringField(2, 'tessera_matmul'), ...inputs.flatMap((v) => valueInfo(11, v)), ...outputs.flatMap((v) => valueInfo(12, v))];
  // ModelProto: ir_version = 1, graph = 7, opset_import = 8 {domain = 1, version = 2}.
  return Uint8Array.from([...intField(1, 8), ...bytesField(8, [...stringField(1, ''), ...intField(2, 13)]), ...bytesField(7, graph)]);
}
