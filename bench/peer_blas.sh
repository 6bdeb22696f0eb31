# bench/peer_blas.sh - sourced by the benches that run NumPy or PyTorch: says which BLAS
# Debian's libblas.so.3 (what both call for their products) resolves to, and warns when it
# is the reference BLAS, against which every peer figure at batch > 1 is several times too
# slow (session 7 found the earlier BPTT and MNIST-1D peer columns measured so).
peer_blas() {
    local lib
    lib=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
    echo "# BLAS behind NumPy and PyTorch: ${lib:-none found}"
    case $lib in
    *openblas*|*blis*|*mkl*|*atlas*) ;;
    *) echo "# warning: not an optimised BLAS: NumPy's and PyTorch's products are slow here" \
            "(apt-get install libopenblas-dev)" ;;
    esac
}
