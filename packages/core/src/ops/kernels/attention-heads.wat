;; The layout change around multi-head attention, as block copies: tokens
;; [B, N, S, H, d] (a fused projection's output, channels ordered (part, head, d) as in
;; timm's Attention) to S head-major tensors [B, H, N, d], and back. With S = 3 it
;; splits qkv into q, k and v; with S = 1 it is the [B, H, N, d] ↔ [B, N, H·d] transpose
;; of the attention output. Compiled by scripts/compile-wat.mjs (wabt) into
;; attention-heads.wasm.ts; the module imports the tfjs-wasm backend's memory and
;; pointers are byte offsets into it.
;;
;; Why it exists: tfjs does this with two Transposes, a SplitV and copies of the saved
;; tensors (forward), a Concat and two Transposes (backward); tfjs-wasm's SplitV reads
;; its whole input into a fresh JavaScript array once per output. Every run of d floats
;; is contiguous on both sides, so the whole change is B·N·S·H memory.copy calls.

(module
  (import "env" "memory" (memory 1))

  ;; Copies between tokens and the S ≤ 3 head-major tensors at h0, h1, h2 (unused ones
  ;; ignored); toHeads = 1: tokens → heads, 0: heads → tokens.
  (func $move (param $tokens i32) (param $h0 i32) (param $h1 i32) (param $h2 i32)
    (param $b i32) (param $n i32) (param $s i32) (param $h i32) (param $d i32) (param $toHeads i32)
    (local $run i32) (local $headStride i32) (local $bi i32) (local $ni i32) (local $si i32) (local $hi i32)
    (local $part i32) (local $at i32)
    (local.set $run (i32.shl (local.get $d) (i32.const 2)))
    ;; one head's [N, d] block
    (local.set $headStride (i32.mul (local.get $n) (local.get $run)))
    (local.set $bi (i32.const 0))
    (block $bdone (loop $bl
      (br_if $bdone (i32.ge_u (local.get $bi) (local.get $b)))
      (local.set $ni (i32.const 0))
      (block $ndone (loop $nl
        (br_if $ndone (i32.ge_u (local.get $ni) (local.get $n)))
        (local.set $si (i32.const 0))
        (block $sdone (loop $sl
          (br_if $sdone (i32.ge_u (local.get $si) (local.get $s)))
          (local.set $part
            (select (local.get $h0)
              (select (local.get $h1) (local.get $h2) (i32.eq (local.get $si) (i32.const 1)))
              (i32.eqz (local.get $si))))
          ;; heads[si][bi, 0, ni, :]
          (local.set $at
            (i32.add (local.get $part)
              (i32.add (i32.mul (i32.mul (local.get $bi) (local.get $h)) (local.get $headStride))
                (i32.mul (local.get $ni) (local.get $run)))))
          (local.set $hi (i32.const 0))
          (block $hdone (loop $hl
            (br_if $hdone (i32.ge_u (local.get $hi) (local.get $h)))
            (if (local.get $toHeads)
              (then (memory.copy (local.get $at) (local.get $tokens) (local.get $run)))
              (else (memory.copy (local.get $tokens) (local.get $at) (local.get $run))))
            (local.set $tokens (i32.add (local.get $tokens) (local.get $run)))
            (local.set $at (i32.add (local.get $at) (local.get $headStride)))
            (local.set $hi (i32.add (local.get $hi) (i32.const 1)))
            (br $hl)))
          (local.set $si (i32.add (local.get $si) (i32.const 1)))
          (br $sl)))
        (local.set $ni (i32.add (local.get $ni) (i32.const 1)))
        (br $nl)))
      (local.set $bi (i32.add (local.get $bi) (i32.const 1)))
      (br $bl))))

  (func (export "tokens_to_heads") (param $tokens i32) (param $h0 i32) (param $h1 i32) (param $h2 i32)
    (param $b i32) (param $n i32) (param $s i32) (param $h i32) (param $d i32)
    (call $move (local.get $tokens) (local.get $h0) (local.get $h1) (local.get $h2)
      (local.get $b) (local.get $n) (local.get $s) (local.get $h) (local.get $d) (i32.const 1)))

  (func (export "heads_to_tokens") (param $h0 i32) (param $h1 i32) (param $h2 i32) (param $tokens i32)
    (param $b i32) (param $n i32) (param $s i32) (param $h i32) (param $d i32)
    (call $move (local.get $tokens) (local.get $h0) (local.get $h1) (local.get $h2)
      (local.get $b) (local.get $n) (local.get $s) (local.get $h) (local.get $d) (i32.const 0))))
