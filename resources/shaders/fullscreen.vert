#version 330 core
// One triangle that covers the whole viewport; the fragment shaders compute a ray per pixel
// from gl_FragCoord, so no geometry (and no sphere mesh with pinched poles) is needed.
void main() {
    vec2 corner = vec2(gl_VertexID == 1 ? 3.0 : -1.0, gl_VertexID == 2 ? 3.0 : -1.0);
    gl_Position = vec4(corner, 0.0, 1.0);
}
