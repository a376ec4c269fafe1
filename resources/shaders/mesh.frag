#version 330 core
// The panorama as the mesh's texture (u = yaw, v = pitch downwards, as the GLB's UVs).
uniform sampler2D u_panorama;

in vec2 v_uv;
out vec4 frag_colour;

void main() {
    frag_colour = vec4(texture(u_panorama, v_uv).rgb, 1.0);
}
