#!/usr/bin/env bash
# Builds bench_accuracy's distractor corpus: images that are not known material, from Debian
# packages (downloaded with apt-get download, unpacked with dpkg-deb; nothing is installed).
#   openclipart-png  8 000+ clip-art PNGs (flat colours, white or transparent backgrounds: where
#                    perceptual hashes collide), Creative Commons public domain dedication;
#   ukui-wallpapers  photographic wallpapers, see the package's copyright file.
# Not the GNOME or Lomiri wallpapers: the public test images include some of them.
# Usage: bench/fetch_distractors.sh [DIR]   (default /var/cache/hashmatch-distractors)
# Then:  build/bin/bench_accuracy --distractors DIR/images
set -euo pipefail
dir=${1:-/var/cache/hashmatch-distractors}
packages=(openclipart-png ukui-wallpapers)
mkdir -p "$dir/debs" "$dir/images"
cd "$dir/debs"
for p in "${packages[@]}"; do
  ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download -q "$p"
done
{
  echo "# bench_accuracy distractors: package, version, licence file (kept beside the images)"
  for deb in *.deb; do
    name=$(dpkg-deb -f "$deb" Package)
    version=$(dpkg-deb -f "$deb" Version)
    rm -rf "../unpacked/$name"
    mkdir -p "../unpacked/$name" "../images/$name"
    dpkg-deb -x "$deb" "../unpacked/$name"
    # Paths kept (names repeat across folders); documentation left out.
    (cd "../unpacked/$name/usr/share" &&
      find . -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' \) -not -path './doc/*' \
        -exec cp --parents -t "$dir/images/$name" {} +)
    cp "../unpacked/$name/usr/share/doc/$name/copyright" "../images/$name/COPYRIGHT"
    echo "$name $version images/$name/COPYRIGHT ($(find "../images/$name" -type f | wc -l) files)"
  done
} > "$dir/SOURCES.txt"
rm -rf "$dir/unpacked"
cat "$dir/SOURCES.txt"
