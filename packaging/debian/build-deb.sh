#!/bin/sh
# Builds target/debian/roost_VERSION_ARCH.deb from a release build: assembles
# the package tree in target/debian/stage and packs it with dpkg-deb. Needs
# cargo, dpkg-deb, strip (binutils) and gzip; dpkg-shlibdeps (dpkg-dev) when
# present, for the exact library dependencies.
#
#   packaging/debian/build-deb.sh             build, then package
#   ROOST_BIN=path packaging/debian/build-deb.sh   package an existing binary
#
# Prints the path of the .deb on its last line.
set -eu
umask 022

top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
here=packaging/debian
out=${OUT_DIR:-$top/target/debian}

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
[ -n "$version" ] || { echo "build-deb: no version in Cargo.toml" >&2; exit 1; }

bin=${ROOST_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release --locked >&2
    bin=${CARGO_TARGET_DIR:-$top/target}/release/roost
fi
[ -x "$bin" ] || { echo "build-deb: $bin is not an executable" >&2; exit 1; }

stage=$out/stage
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"

# The server, stripped (its debug info stays in target/).
install -D -m 0755 "$bin" "$stage/usr/sbin/roost"
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$stage/usr/sbin/roost"

# The configuration: every key commented out with its default, except the
# account the server switches to.
install -d -m 0755 "$stage/etc/roost"
sed -e '1s/.*/# Roost configuration, installed by the roost package; see roost.conf(5)./' \
    -e 's/^#user =$/user = roost/' \
    -e 's/^#group =$/group = roost/' \
    packaging/roost.conf.example >"$stage/etc/roost/roost.conf"
chmod 0644 "$stage/etc/roost/roost.conf"
for key in user group; do
    grep -q "^$key = roost\$" "$stage/etc/roost/roost.conf" ||
        { echo "build-deb: roost.conf.example lacks #$key =" >&2; exit 1; }
done

install -D -m 0644 packaging/roost.service "$stage/lib/systemd/system/roost.service"

# Manual pages and documentation, compressed as policy asks.
install -d -m 0755 "$stage/usr/share/man/man8" "$stage/usr/share/man/man5" \
    "$stage/usr/share/doc/roost"
gzip -9n <man/roost.8 >"$stage/usr/share/man/man8/roost.8.gz"
gzip -9n <man/roost.conf.5 >"$stage/usr/share/man/man5/roost.conf.5.gz"
gzip -9n <README.md >"$stage/usr/share/doc/roost/README.md.gz"
gzip -9n <"$here/changelog" >"$stage/usr/share/doc/roost/changelog.gz"
install -m 0644 "$here/copyright" "$stage/usr/share/doc/roost/copyright"
# The systemd drop-in for Postfix's sockets (README, With Postfix).
install -D -m 0644 packaging/roost-postfix.conf \
    "$stage/usr/share/doc/roost/examples/roost-postfix.conf"
find "$stage/usr/share" -type f -exec chmod 0644 {} +

# Maintainer scripts and control files.
for script in postinst prerm postrm; do
    install -m 0755 "$here/$script" "$stage/DEBIAN/$script"
done
install -m 0644 "$here/conffiles" "$stage/DEBIAN/conffiles"

depends=""
if command -v dpkg-shlibdeps >/dev/null; then
    # dpkg-shlibdeps wants a debian/control beside it; give it a scratch one.
    scratch=$(mktemp -d)
    mkdir "$scratch/debian"
    printf 'Source: roost\n\nPackage: roost\nArchitecture: any\n' >"$scratch/debian/control"
    depends=$(cd "$scratch" && dpkg-shlibdeps -O "$stage/usr/sbin/roost" 2>/dev/null |
        sed -n 's/^shlibs:Depends=//p') || depends=""
    rm -rf "$scratch"
fi
[ -n "$depends" ] || depends="libc6 (>= 2.34), libgcc-s1 (>= 4.2)"
depends="adduser, $depends"

size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@DEPENDS@/$depends/" "$here/control.in" >"$stage/DEBIAN/control"

(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' |
    LC_ALL=C sort | xargs md5sum >DEBIAN/md5sums)
chmod 0644 "$stage/DEBIAN/md5sums" "$stage/DEBIAN/control"

deb=$out/roost_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
echo "$deb"
